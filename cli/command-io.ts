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
  return {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
    progress: (line) => {
      if (tty) process.stderr.write(`\r${line}\u001b[K`);
    },
    env: process.env,
  };
}
