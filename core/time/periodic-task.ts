/**
 * A task run every `intervalMs` until stopped: the first run starts one interval after the start, and
 * the next is scheduled when the previous ends, so runs never overlap. A run that throws is reported to
 * `onError` (unless the task was stopped) and the schedule goes on. The timer never keeps the process
 * alive. Used by the retention sweeper (control plane) and the upload sweeper (data plane).
 */

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

/** Starts the task. */
export function startPeriodicTask(options: PeriodicTaskOptions): PeriodicTask {
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
  const schedule = (): void => {
    if (abort.signal.aborted) return;
    timer = setTimeout(() => {
      running = runOnce().finally(() => {
        running = undefined;
        schedule();
      });
    }, options.intervalMs);
    timer.unref();
  };
  schedule();
  return {
    async stop() {
      abort.abort();
      clearTimeout(timer);
      await running;
    },
  };
}
