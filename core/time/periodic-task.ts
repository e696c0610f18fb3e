/**
 * A task run every `intervalMs` until stopped: the first run starts one interval after the start, and
 * the next is scheduled when the previous ends, so runs never overlap. A run that throws is reported to
 * `onError` (unless the task was stopped) and the schedule goes on. The timer never keeps the process
 * alive. An interval longer than a Node timer can wait (2^31 - 1 ms, about 24.8 days; Node would fire
 * such a timer after 1 ms) is waited in several steps. Used by the retention sweeper (control plane) and
 * the upload sweeper (data plane).
 */

/** The longest delay `setTimeout` honours. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** A running periodic task. */
export interface PeriodicTask {
  /** Stops scheduling, aborts a run in progress and waits for it to end; safe to call twice. */
  stop(): Promise<void>;
}

/** Options of {@link startPeriodicTask}. */
export interface PeriodicTaskOptions {
  /** Time between the end of one run and the start of the next. */
  readonly intervalMs: number;
  /** One run; `signal` aborts when the task is stopped. */
  readonly run: (signal: AbortSignal) => Promise<void>;
  /** A run that failed while the task was not stopped. */
  readonly onError: (error: unknown) => void;
}

/** Starts the task; throws RangeError for an interval that is not a positive number of milliseconds. */
export function startPeriodicTask(options: PeriodicTaskOptions): PeriodicTask {
  if (!Number.isFinite(options.intervalMs) || options.intervalMs <= 0) throw new RangeError(`interval must be a positive number of milliseconds, got ${options.intervalMs}`);
  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  const runOnce = async (): Promise<void> => {
    try {
      await options.run(abort.signal);
    } catch (error) {
      if (!abort.signal.aborted) options.onError(error);
    }
  };
  const wait = (remainingMs: number): void => {
    if (abort.signal.aborted) return;
    const step = Math.min(remainingMs, MAX_TIMER_MS);
    timer = setTimeout(() => {
      if (remainingMs > step) {
        wait(remainingMs - step);
        return;
      }
      running = runOnce().finally(() => {
        running = undefined;
        wait(options.intervalMs);
      });
    }, step);
    timer.unref();
  };
  wait(options.intervalMs);
  return {
    async stop() {
      abort.abort();
      clearTimeout(timer);
      await running;
    },
  };
}
