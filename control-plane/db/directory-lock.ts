/**
 * One process at a time on an embedded database. PGlite keeps its files in a directory and has no lock
 * of its own: two processes that open the same directory each run their own copy of the database and
 * overwrite each other's writes, so events one of them acknowledged are lost without a trace.
 *
 * The lock is a file beside the directory (`<dir>.lock`, created exclusively) holding the owner's PID,
 * host and start time. A lock whose process no longer runs on this host (a crash, a kill -9) is taken
 * over. Node has no flock(2); this is the pidfile convention PostgreSQL itself uses (`postmaster.pid`).
 */
import { open, readFile, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';

/** A held lock; `release` removes the file if it is still ours (idempotent). */
export interface DirectoryLock {
  readonly path: string;
  release(): Promise<void>;
}

/** The directory is open in another live process. */
export class DirectoryLockedError extends Error {
  override readonly name = 'DirectoryLockedError';
}

/** Takes the lock of `directory`, or throws {@link DirectoryLockedError} naming the process holding it. */
export async function lockDirectory(directory: string): Promise<DirectoryLock> {
  const path = `${directory}.lock`;
  const content = `${process.pid}\n${hostname()}\n${new Date().toISOString()}\n`;
  for (let attempt = 0; ; attempt++) {
    try {
      const handle = await open(path, 'wx', 0o644);
      try {
        await handle.writeFile(content);
      } finally {
        await handle.close();
      }
      return { path, release: onceRelease(path, content) };
    } catch (error) {
      if (!hasCode(error, 'EEXIST') || attempt >= 2) throw error;
    }
    const holder = await readFile(path, 'utf8').catch(unlessGone);
    if (holder === undefined) continue; // released meanwhile
    const [pidText = '', host = '', since = ''] = holder.split('\n');
    const pid = Number(pidText);
    if (Number.isSafeInteger(pid) && pid > 0 && (host !== hostname() || isRunning(pid))) {
      const who = pid === process.pid ? 'this process' : `process ${pid} on ${host || 'an unknown host'}`;
      throw new DirectoryLockedError(
        `the embedded database at ${directory} is open in ${who} (since ${since || 'an unknown time'}): stop it first ` +
          `(several processes need PostgreSQL: ARTIFACTSTORE_DATABASE_URL). If no such process runs, remove ${path}`,
      );
    }
    // Its process is gone: a stale lock.
    await unlink(path).catch(unlessGone);
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return hasCode(error, 'EPERM'); // it runs, as another user
  }
}

function onceRelease(path: string, content: string): () => Promise<void> {
  let released: Promise<void> | undefined;
  return () =>
    (released ??= (async () => {
      const now = await readFile(path, 'utf8').catch(() => undefined);
      if (now === content) await unlink(path).catch(() => undefined);
    })());
}

/** For `.catch`: a file that is gone already is undefined; any other failure is rethrown. */
function unlessGone(error: unknown): undefined {
  if (hasCode(error, 'ENOENT')) return undefined;
  throw error;
}

function hasCode(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === code;
}
