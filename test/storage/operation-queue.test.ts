// The writers' operation queue (data-plane/storage/operation-queue.ts): call order, whatever each takes,
// and a failure rejects only its own operation.
import { expect, it } from 'vitest';
import { createOperationQueue } from '../../data-plane/storage/operation-queue.ts';

const later = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

it('runs operations one at a time in call order, a failure rejecting only its own promise', async () => {
  const queue = createOperationQueue();
  const log: string[] = [];
  let running = 0;
  const step = (name: string, ms: number, fail = false) =>
    queue(async () => {
      running++;
      expect(running, 'one operation at a time').toBe(1);
      log.push(`${name} start`);
      await later(ms);
      log.push(`${name} end`);
      running--;
      if (fail) throw new Error(`${name} failed`);
      return name;
    });
  const results = await Promise.allSettled([step('a', 20), step('b', 1, true), step('c', 5)]);
  expect(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).toEqual(['a', 'b failed', 'c']);
  expect(log).toEqual(['a start', 'a end', 'b start', 'b end', 'c start', 'c end']);
});
