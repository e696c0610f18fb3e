/**
 * What a command may touch: its output streams and environment. Passed in so commands can be tested
 * in-process.
 */

/** I/O for one command run. */
export interface CommandIo {
  /** Result lines (stdout). */
  readonly out: (line: string) => void;
  /** Diagnostics (stderr). */
  readonly err: (line: string) => void;
  /** Progress for long work (stderr, only on a terminal). */
  readonly progress: (line: string) => void;
  /** The environment. */
  readonly env: NodeJS.ProcessEnv;
}

/** I/O bound to the process. */
export function processIo(): CommandIo {
  const tty = process.stderr.isTTY;
  quietOnClosedPipe();
  return {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
    progress: (line) => {
      if (tty) process.stderr.write(`\r${line}\u001b[K`);
    },
    env: process.env,
  };
}

let quiet = false;
let exitOnClosedPipe = true;
let stderrWatched = false;

/** True for an output error that only says the reader is gone: a closed pipe, or a terminal hung up. */
function lostReader(error: NodeJS.ErrnoException, stream: NodeJS.WriteStream): boolean {
  return error.code === 'EPIPE' || (error.code === 'EIO' && stream.isTTY);
}

function onOutputError(this: NodeJS.WriteStream, error: NodeJS.ErrnoException): void {
  if (exitOnClosedPipe) {
    if (error.code === 'EPIPE') process.exit(0);
  } else if (lostReader(error, this)) {
    return;
  }
  throw error;
}

/**
 * `artifactstore ls | head -3`: once the reader has gone, the next write fails with EPIPE, which Node
 * raises as an unhandled 'error' event (a stack trace). Like other Unix tools, stop quietly instead.
 */
function quietOnClosedPipe(): void {
  if (quiet) return;
  quiet = true;
  process.stdout.on('error', onOutputError);
}

/**
 * For `artifactstore start` and the servers it launched: once the reader of their output has gone (the
 * launcher killed, its terminal closed), further lines are dropped instead of ending the process
 * (`quietOnClosedPipe`) or crashing it (an unhandled 'error' event), so a server whose launcher was
 * killed still finishes closing its database (it notices the launcher is gone: `launcher-watch.ts`).
 * A server run on its own keeps the usual behaviour: its output is what its operator reads.
 */
export function keepRunningOnClosedPipe(): void {
  exitOnClosedPipe = false;
  quietOnClosedPipe();
  if (stderrWatched) return;
  stderrWatched = true;
  process.stderr.on('error', onOutputError);
}
