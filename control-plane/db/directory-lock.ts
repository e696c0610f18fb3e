/**
 * One process at a time on an embedded database. PGlite keeps its files in a directory and has no lock
 * of its own: two processes that open the same directory each run their own copy of the database and
 * overwrite each other's writes, so events one of them acknowledged are lost without a trace.
 *
 * The lock is a file beside the directory (`<dir>.lock`) holding the owner's PID, host and start time.
 * It is written whole and fsynced under a temporary name and then hard-linked into place, so it never
 * exists half-written (an empty one is a crash's leftover, taken over), and link(2) fails if another
 * process holds it. A lock whose process no longer runs on
 * this host (a crash, a kill -9), or that names this process's PID without this process holding it (a
 * container restarted with the same PID), is taken over; one process at a time does that, under a
 * second file (`<dir>.lock.takeover`), so two starters cannot both take the same stale lock. Node has no
 * flock(2); this is the pidfile convention PostgreSQL itself uses (`postmaster.pid`).
 */
import { readFile, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { hasErrno } from '../../core/errors/errno.ts';
import { createFileDurably } from '../../core/fs/create-durably.ts';

/** A held lock; `release` removes the file if it is still ours (idempotent). */
export interface DirectoryLock {
  readonly path: string;
  release(): Promise<void>;
}

/** The directory is open in another live process (or the lock cannot be judged). */
export class DirectoryLockedError extends Error {
  override readonly name = 'DirectoryLockedError';
}

/** Lock files this process holds, so a file naming our PID is told apart from one left by a past life. */
const held = new Set<string>();

const MAX_ATTEMPTS = 50;

/** Takes the lock of `directory`, or throws {@link DirectoryLockedError} naming the process holding it. */
export async function lockDirectory(directory: string): Promise<DirectoryLock> {
  const path = `${directory}.lock`;
  const content = `${process.pid}\n${hostname()}\n${new Date().toISOString()}\n`;
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    if (held.has(path)) throw locked(directory, path, 'this process', content);
    if (await createFileDurably(path, content)) {
      held.add(path);
      return { path, release: onceRelease(path, content) };
    }
    const holder = await readFile(path, 'utf8').catch(unlessGone);
    if (holder === undefined) continue; // released meanwhile
    const owner = ownerOf(holder);
    if (owner === undefined) throw locked(directory, path, 'a process this lock file does not name (it is not a lock this build wrote)', holder);
    if (owner.alive) throw locked(directory, path, owner.who, holder);
    await takeOver(path, holder, content);
    if (attempt > 1) await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new DirectoryLockedError(`could not take the lock ${path} after ${MAX_ATTEMPTS} attempts (other processes keep taking it)`);
}

function locked(directory: string, path: string, who: string, holder: string): DirectoryLockedError {
  const since = holder.split('\n')[2] || 'an unknown time';
  return new DirectoryLockedError(
    `the embedded database at ${directory} is open in ${who} (since ${since}): stop it first ` +
      `(several processes need PostgreSQL: ARTIFACTSTORE_DATABASE_URL). If no such process runs, remove ${path}`,
  );
}

/** Who a lock file names, and whether that process still holds it; undefined when unreadable. */
function ownerOf(holder: string): { who: string; alive: boolean } | undefined {
  // A lock is written whole and fsynced before it is linked into place, so a live one is never empty;
  // an empty one is what a power loss left of a lock whose content had not reached the disk.
  if (holder === '') return { who: 'no process (an empty lock file, left by a crash)', alive: false };
  const [pidText = '', host = ''] = holder.split('\n');
  const pid = Number(pidText);
  if (!/^\d+$/.test(pidText) || !Number.isSafeInteger(pid) || pid <= 0 || host === '') return undefined;
  if (host !== hostname()) return { who: `process ${pid} on ${host}`, alive: true }; // cannot be checked from here
  if (pid === process.pid) return { who: 'this process', alive: false }; // not in `held`: a past life's
  return { who: `process ${pid}`, alive: isRunning(pid) };
}

/** Removes the stale lock `path` if it still holds `stale`, one process at a time (see the file comment). */
async function takeOver(path: string, stale: string, content: string): Promise<void> {
  const guard = `${path}.takeover`;
  if (!(await createFileDurably(guard, content))) {
    const other = await readFile(guard, 'utf8').catch(unlessGone);
    const owner = other === undefined ? undefined : ownerOf(other);
    if (other !== undefined && (owner === undefined || !owner.alive)) await unlink(guard).catch(unlessGone); // its taker died
    return; // another process is taking it over: look again
  }
  try {
    const now = await readFile(path, 'utf8').catch(unlessGone);
    if (now === stale) await unlink(path).catch(unlessGone);
  } finally {
    await unlink(guard).catch(unlessGone);
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return hasErrno(error, 'EPERM'); // it runs, as another user
  }
}

function onceRelease(path: string, content: string): () => Promise<void> {
  let released: Promise<void> | undefined;
  return () =>
    (released ??= (async () => {
      const now = await readFile(path, 'utf8').catch(() => undefined);
      if (now === content) await unlink(path).catch(() => undefined);
      held.delete(path);
    })());
}

/** For `.catch`: a file that is gone already is undefined; any other failure is rethrown. */
function unlessGone(error: unknown): undefined {
  if (hasErrno(error, 'ENOENT')) return undefined;
  throw error;
}
