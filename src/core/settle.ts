/**
 * `Promise.all` for writes and deletes: waits until every one has ended, then throws the first
 * failure in the order given. With `Promise.all` a failed invocation would return while the others
 * are still in flight (the SDK retrying them after a back-off), and they would land during Lambda's
 * retry of the event, or after it, out of the order the pipeline keeps (the manifest last).
 */
export async function settleAll<T>(work: readonly Promise<T>[]): Promise<T[]> {
  const settled = await Promise.allSettled(work);
  const failed = settled.find((result) => result.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((result) => (result as PromiseFulfilledResult<T>).value);
}
