import type { FinalStatus, StatusStore } from '../../src/status/types.ts';

/**
 * A status store whose first `times` writes of the final status `status` fail as a throttled
 * DynamoDB table does once the SDK's retries are spent; every other call goes to `store`.
 */
export function throttledFinish(
  store: StatusStore,
  status: FinalStatus['status'],
  times: number,
): StatusStore {
  let left = times;
  return {
    begin: (...args) => store.begin(...args),
    get: (...args) => store.get(...args),
    list: (...args) => store.list(...args),
    eventSent: (...args) => store.eventSent(...args),
    finish: (...args) =>
      args[1].status === status && left-- > 0
        ? Promise.reject(
            Object.assign(new Error('Throughput exceeds the current capacity'), {
              name: 'ProvisionedThroughputExceededException',
              $metadata: { httpStatusCode: 400 },
            }),
          )
        : store.finish(...args),
  };
}

/**
 * A status store that runs `before` once, before the first write of the final status `status`
 * goes to `store` (a race played out at that point); every other call goes to `store`.
 */
export function beforeFirstFinish(
  store: StatusStore,
  status: FinalStatus['status'],
  before: () => Promise<void>,
): StatusStore {
  let ran = false;
  return {
    begin: (...args) => store.begin(...args),
    get: (...args) => store.get(...args),
    list: (...args) => store.list(...args),
    eventSent: (...args) => store.eventSent(...args),
    finish: async (...args) => {
      if (args[1].status === status && !ran) {
        ran = true;
        await before();
      }
      return store.finish(...args);
    },
  };
}
