/**
 * The scheduled retention sweep: every `intervalMs` (first run one interval after start) it runs the
 * registry's eligibility sweep as of the injected clock's now. Runs never overlap (the next one is
 * scheduled when the previous ends; `core/time/periodic-task.ts`); a failed run is logged and retried
 * at the next interval. The SweepRetention RPC can run the same sweep at any time; the two are safe
 * together because the sweep re-checks every package under its row lock.
 */
import { startPeriodicTask } from '../../core/time/periodic-task.ts';
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
  const task = startPeriodicTask({
    intervalMs: options.intervalMs,
    run: async (signal) => {
      const result = await options.sweep({ signal });
      if (result.newlyEligible.length > 0) options.log(`retention sweep as of ${result.asOf}: ${result.newlyEligible.length} package(s) newly eligible for deletion`);
    },
    onError: (err) => options.log(`retention sweep failed: ${String(err)}`),
  });
  return { close: () => task.stop() };
}
