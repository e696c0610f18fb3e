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

/** Output errors a server outlives: its reader gone (EPIPE), its terminal hung up (EIO). */
const LOST_OUTPUT = new Set(['EPIPE', 'EIO', 'ERR_STREAM_DESTROYED']);

function onOutputError(error: NodeJS.ErrnoException): void {
  if (exitOnClosedPipe) {
    if (error.code === 'EPIPE') process.exit(0);
  } else if (error.code !== undefined && LOST_OUTPUT.has(error.code)) {
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
 * For the servers and their launcher: once the reader of their output has gone, further lines are
 * dropped instead of ending the process (`quietOnClosedPipe`) or crashing it (an unhandled 'error'
 * event), so a server whose launcher was killed still finishes closing its database.
 */
export function keepRunningOnClosedPipe(): void {
  exitOnClosedPipe = false;
  quietOnClosedPipe();
  if (stderrWatched) return;
  stderrWatched = true;
  process.stderr.on('error', onOutputError);
}
