// The periodic task behind the retention and upload sweepers: first run one interval after the start,
// runs never overlap, a failed run is reported and the schedule goes on, and stop aborts the run in
// progress and waits for it.
import { describe, expect, it } from 'vitest';
import { startPeriodicTask } from '../../core/time/periodic-task.ts';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('startPeriodicTask', () => {
  it('runs one at a time, reports failures and goes on', async () => {
    let active = 0;
    let most = 0;
    let runs = 0;
    const errors: unknown[] = [];
    const task = startPeriodicTask({
      intervalMs: 5,
      run: async () => {
        runs += 1;
        active += 1;
        most = Math.max(most, active);
        await sleep(20); // longer than the interval: a second run must not start meanwhile
        active -= 1;
        if (runs === 2) throw new Error('second run fails');
      },
      onError: (error) => errors.push(error),
    });
    const started = performance.now();
    while (runs < 4 && performance.now() - started < 10_000) await sleep(5);
    await task.stop();
    expect(runs).toBeGreaterThanOrEqual(4);
    expect(most).toBe(1);
    expect(errors).toEqual([new Error('second run fails')]);
  });

  it('waits one interval before the first run, and stop aborts and waits for a run in progress', async () => {
    let runs = 0;
    const notStarted = startPeriodicTask({ intervalMs: 60_000, run: () => Promise.resolve(void (runs += 1)), onError: () => undefined });
    await sleep(30);
    await notStarted.stop();
    expect(runs).toBe(0);

    let aborted = false;
    let finished = false;
    const errors: unknown[] = [];
    let entered!: () => void;
    const inRun = new Promise<void>((resolve) => (entered = resolve));
    const task = startPeriodicTask({
      intervalMs: 1,
      run: async (signal) => {
        entered();
        await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
        aborted = signal.aborted;
        await sleep(20);
        finished = true;
        throw new Error('ended by the stop');
      },
      onError: (error) => errors.push(error),
    });
    await inRun;
    await task.stop();
    expect({ aborted, finished }).toEqual({ aborted: true, finished: true });
    expect(errors).toEqual([]); // a run ended by the stop is not a failure
    await task.stop(); // twice is fine
  });

  it('waits a long interval out in steps instead of firing at once, and refuses a bad one', async () => {
    let runs = 0;
    // 35 days: more than a Node timer can wait; a plain setTimeout would fire after 1 ms.
    const task = startPeriodicTask({ intervalMs: 35 * 86_400_000, run: () => Promise.resolve(void (runs += 1)), onError: () => undefined });
    await sleep(50);
    await task.stop();
    expect(runs).toBe(0);
    for (const intervalMs of [0, -5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => startPeriodicTask({ intervalMs, run: () => Promise.resolve(), onError: () => undefined })).toThrow(RangeError);
    }
  });
});
