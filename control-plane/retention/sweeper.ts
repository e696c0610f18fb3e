/**
 * The scheduled retention sweep: every `intervalMs` (first run one interval after start) it runs the
 * registry's eligibility sweep as of the injected clock's now. Runs never overlap (the next one is
 * scheduled when the previous ends); a failed run is logged and retried at the next interval. The
 * SweepRetention RPC can run the same sweep at any time; the two are safe together because the sweep
 * re-checks every package under its row lock.
 */
import type { SweepInput, SweepResult } from '../registry/retention.ts';

/** Options of the sweeper. */
export interface RetentionSweeperOptions {
  /** The sweep to run (the registry's `sweepRetention`). */
  readonly sweep: (input: SweepInput) => Promise<SweepResult>;
  /** Time between the end of one run and the start of the next. */
  readonly intervalMs: number;
  readonly log: (line: string) => void;
}

/** A running sweeper. */
export interface RetentionSweeper {
  /** Stops scheduling and waits for a run in progress to end (it is aborted); safe to call twice. */
  close(): Promise<void>;
}

/** Starts the sweeper. */
export function startRetentionSweeper(options: RetentionSweeperOptions): RetentionSweeper {
  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;

  const run = async (): Promise<void> => {
    try {
      const result = await options.sweep({ signal: abort.signal });
      if (result.newlyEligible.length > 0) options.log(`retention sweep as of ${result.asOf}: ${result.newlyEligible.length} package(s) newly eligible for deletion`);
    } catch (err) {
      if (!abort.signal.aborted) options.log(`retention sweep failed: ${String(err)}`);
    }
  };
  const schedule = (): void => {
    if (abort.signal.aborted) return;
    timer = setTimeout(() => {
      running = run().finally(() => {
        running = undefined;
        schedule();
      });
    }, options.intervalMs);
    // The sweep alone never keeps the process alive.
    timer.unref();
  };
  schedule();

  return {
    async close() {
      abort.abort();
      clearTimeout(timer);
      await running;
    },
  };
}
