/**
 * Ctrl-C (SIGINT) and SIGTERM for a client command that moves bytes (`push`, `pull`, `guide-board
 * ingest`). Without this the process died where it stood: `pull` left its temporary `.partial` files in
 * the target directory, and `push` did not say which package it had left open.
 *
 * The first signal aborts the command's signal: transfers and calls in flight are aborted, no new one
 * starts, and the command cleans up as for any failure (temporary files removed, the open package
 * named). The process then exits 130 (SIGINT) or 143 (SIGTERM), as a shell reports a process killed by
 * the signal. A second signal exits at once, without that clean-up.
 */
import { setMaxListeners } from 'node:events';
import type { CommandIo } from './command-io.ts';

/** The exit status a shell gives a process ended by `signal`: 128 + its number. */
function exitStatusOf(signal: 'SIGINT' | 'SIGTERM'): number {
  return signal === 'SIGINT' ? 130 : 143;
}

/**
 * Codes of the failures an aborted request leaves on the streams around it: its response torn down
 * (`aborted`, ECONNRESET), a pipeline cut short.
 */
const TEARDOWN_CODES = new Set(['ABORT_ERR', 'ECONNRESET', 'ERR_STREAM_PREMATURE_CLOSE']);

/** True for a failure the abort itself caused (not one the work met before or besides it). */
function causedByAbort(error: unknown, signal: AbortSignal): boolean {
  if (error === signal.reason) return true;
  if (!(error instanceof Error)) return false;
  const code = (error as NodeJS.ErrnoException).code;
  return error.name === 'AbortError' || error.cause === signal.reason || (code !== undefined && TEARDOWN_CODES.has(code));
}

/**
 * Runs `run` with a signal that SIGINT or SIGTERM aborts; resolves with the exit status: `run`'s own
 * when it finished (also when a signal came after its last transfer), 130 or 143 when it failed after a
 * signal. A failure of `run` before any signal is rethrown as it is.
 */
export async function runInterruptible(io: CommandIo, name: string, run: (signal: AbortSignal) => Promise<number>): Promise<number> {
  const controller = new AbortController();
  // Every request in flight listens to the one signal (up to --concurrency 256 of them).
  setMaxListeners(0, controller.signal);
  let received: 'SIGINT' | 'SIGTERM' | undefined;
  const onSignal = (signal: 'SIGINT' | 'SIGTERM'): void => {
    if (received !== undefined) {
      io.err(`${name}: ${signal} again, quitting now`);
      process.exit(exitStatusOf(signal));
    }
    received = signal;
    io.err(`${name}: ${signal === 'SIGINT' ? 'interrupted' : 'received SIGTERM'}, stopping the transfers (a second signal quits at once)`);
    controller.abort(new Error(`${name} was interrupted (${signal})`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await run(controller.signal);
  } catch (error) {
    if (received === undefined) throw error;
    // A failure of its own (a refused upload, say) must not hide behind the interruption.
    io.err(causedByAbort(error, controller.signal) ? `${name}: stopped` : `${name}: stopped; it had also failed: ${error instanceof Error ? error.message : String(error)}`);
    return exitStatusOf(received);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
