/**
 * Runs `work` over `items` with at most `concurrency` in flight; stops starting new work after the
 * first failure, or once `signal` is aborted, and rethrows the failure once the in-flight work settles
 * (else the signal's reason, when an abort left items undone). Aborting does not stop work in flight:
 * give `work` the signal for that.
 */
export async function runPool<T, R>(items: readonly T[], concurrency: number, work: (item: T, index: number) => Promise<R>, signal?: AbortSignal): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  let failed: { error: unknown } | undefined;
  async function worker(): Promise<void> {
    while (failed === undefined && signal?.aborted !== true && next < items.length) {
      const index = next++;
      try {
        results[index] = await work(items[index] as T, index);
      } catch (error) {
        failed ??= { error };
      }
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker));
  if (failed !== undefined) throw failed.error;
  if (next < items.length) signal?.throwIfAborted();
  return results;
}
