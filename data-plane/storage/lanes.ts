/**
 * Runs `work(0) … work(count - 1)` with at most `lanes` in flight, in index order. After the first
 * failure no further index starts; the call then rejects with the failure of the lowest index (every
 * lower index had started, so that is the first failure in input order).
 */
export async function runInLanes(count: number, lanes: number, work: (index: number) => Promise<void>): Promise<void> {
  const errors: { index: number; error: unknown }[] = [];
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < count && errors.length === 0) {
      const index = next++;
      try {
        await work(index);
      } catch (error) {
        errors.push({ index, error });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(lanes, count) }, lane));
  if (errors.length > 0) throw errors.reduce((first, e) => (e.index < first.index ? e : first)).error;
}
