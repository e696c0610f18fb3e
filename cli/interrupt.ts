/**
 * Ctrl-C (SIGINT) and SIGTERM for a client command that moves bytes (`push`, `pull`, `guide-board
 * ingest`). Without this the process died where it stood: `pull` left its temporary `.partial` files in
 * the target directory, and `push` did not say which package it had left open.
 *
 * The first signal aborts the command's signal: transfers in flight are aborted, no new one starts, and
 * the command cleans up as for any failure (temporary files removed, the open package named). The
 * process then exits 130 (SIGINT) or 143 (SIGTERM), as a shell reports a process killed by the signal.
 * A second signal exits at once.
 */
import type { CommandIo } from './command-io.ts';

/** The exit status a shell gives a process ended by `signal`: 128 + its number. */
function exitStatusOf(signal: 'SIGINT' | 'SIGTERM'): number {
  return signal === 'SIGINT' ? 130 : 143;
}

/**
 * Runs `run` with a signal that SIGINT or SIGTERM aborts; resolves with the exit status: `run`'s own
 * when it finished (also when a signal came after its last step), 130 or 143 when it failed after a
 * signal. A failure of `run` before any signal is rethrown as it is.
 */
export async function runInterruptible(io: CommandIo, name: string, run: (signal: AbortSignal) => Promise<number>): Promise<number> {
  const controller = new AbortController();
  let received: 'SIGINT' | 'SIGTERM' | undefined;
  const onSignal = (signal: 'SIGINT' | 'SIGTERM'): void => {
    if (received !== undefined) {
      io.err(`${name}: ${signal} again, quitting now`);
      process.exit(exitStatusOf(signal));
    }
    received = signal;
    io.err(`${name}: ${signal === 'SIGINT' ? 'interrupted' : 'received SIGTERM'}, stopping the transfers (press Ctrl-C again to quit at once)`);
    controller.abort(new Error(`${name} was interrupted (${signal})`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await run(controller.signal);
  } catch (error) {
    if (received === undefined) throw error;
    io.err(`${name}: stopped`);
    return exitStatusOf(received);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
