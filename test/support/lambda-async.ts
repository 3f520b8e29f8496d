import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';

/**
 * Lambda's asynchronous invocation, as S3 event notifications get it, for many events at once:
 * up to `concurrency` invocations in flight, a failed invocation retried twice (Lambda's default
 * `maximum_retry_attempts`; each retry goes to the back of the queue, so retries arrive out of
 * order as Lambda's do, without its one- and two-minute waits), then sent to the dead-letter list.
 */
export interface AsyncDelivery<E, R> {
  /** Every event's last result, in delivery order of the events given. */
  readonly results: (R | undefined)[];
  readonly invocations: number;
  /** Invocations that threw and were retried. */
  readonly retries: number;
  /** Events that failed three times: what Lambda would send to the dead-letter queue. */
  readonly deadLetters: { readonly event: E; readonly index: number; readonly error: unknown }[];
}

export async function deliverAsync<E, R>(
  events: readonly E[],
  handler: (event: E, context: Context) => Promise<R>,
  options: { concurrency: number; maxRetries?: number },
): Promise<AsyncDelivery<E, R>> {
  const maxRetries = options.maxRetries ?? 2;
  const queue = events.map((event, index) => ({ event, index, attempt: 0 }));
  const results: (R | undefined)[] = new Array(events.length).fill(undefined);
  const deadLetters: { event: E; index: number; error: unknown }[] = [];
  let invocations = 0;
  let retries = 0;

  async function worker(): Promise<void> {
    for (let next = queue.shift(); next; next = queue.shift()) {
      invocations++;
      try {
        results[next.index] = await handler(next.event, lambdaContext());
      } catch (error) {
        if (next.attempt < maxRetries) {
          retries++;
          queue.push({ ...next, attempt: next.attempt + 1 });
        } else {
          deadLetters.push({ event: next.event, index: next.index, error });
        }
      }
    }
  }
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  return { results, invocations, retries, deadLetters };
}

export function lambdaContext(): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: 'imgpipe-test',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:imgpipe-test',
    memoryLimitInMB: '2048',
    awsRequestId: randomUUID(),
    logGroupName: '/aws/lambda/imgpipe-test',
    logStreamName: 'local',
    getRemainingTimeInMillis: () => 900_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}
