/**
 * `Promise.all` for writes and deletes: waits until every one has ended, then throws a failure.
 * With `Promise.all` a failed invocation would return while the others are still in flight (the SDK
 * retrying them after a back-off), and they would land during Lambda's retry of the event, or after
 * it, out of the order the pipeline keeps (the manifest last).
 *
 * Which failure: the first that says it cannot be retried (`retryable: false`, as StorageError
 * has it), else the first in the order given, so one retryable failure beside a permanent one does
 * not make the whole call look worth retrying.
 */
export async function settleAll<T>(work: readonly Promise<T>[]): Promise<T[]> {
  const settled = await Promise.allSettled(work);
  const failures = settled.flatMap((result) => (result.status === 'rejected' ? [result.reason] : []));
  if (failures.length > 0) {
    throw failures.find((reason) => (reason as { retryable?: unknown })?.retryable === false) ?? failures[0];
  }
  return settled.map((result) => (result as PromiseFulfilledResult<T>).value);
}
