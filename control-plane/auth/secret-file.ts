/**
 * Secrets generated on first start and kept in the data directory (`dev-token`, `internal-token`):
 * created with mode 0600, whole and durably, and only if absent (so two processes starting at once
 * cannot both write one), read back on later starts.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createFileDurably } from '../../core/fs/create-durably.ts';
import { DirectoryLockedError, lockDirectory } from '../db/directory-lock.ts';

/** A secret and whether this call created it. */
export interface LoadedSecret {
  readonly value: string;
  readonly created: boolean;
}

/**
 * A new random token: `as_` then 32 random bytes in base64url (46 characters). The prefix keeps a
 * token from starting with `-`, which a command line would read as an option (`--token -x...`),
 * and lets secret scanners recognise one.
 */
export function generateToken(): string {
  return `as_${randomBytes(32).toString('base64url')}`;
}

/**
 * Reads the secret in `path`, or creates it with a new random token, durably (written, fsynced, then
 * linked into place: `core/fs/create-durably.ts`). An empty file is what a power loss leaves of one
 * whose creation had not reached the disk (its process never finished starting, so no one was given
 * that token): it is replaced by a new token.
 */
export async function loadOrCreateSecret(path: string): Promise<LoadedSecret> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const existing = await readFile(path, 'utf8').catch((err: unknown) => {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    });
    if (existing !== undefined && existing.trim() !== '') return { value: existing.trim(), created: false };
    if (existing !== undefined) {
      await removeIfEmpty(path);
      continue;
    }
    await mkdir(dirname(path), { recursive: true });
    const value = generateToken();
    if (await createFileDurably(path, `${value}\n`, 0o600)) return { value, created: true };
    // Another process created it meanwhile: read theirs.
  }
  throw new Error(`${path}: could not read or create the token (other processes keep changing it)`);
}

/**
 * Removes the empty token file `path` (a crash's leftover), under a lock (`<path>.lock`), and only if it
 * is still empty then: a starter that found it empty too must not remove the token another has since
 * created (created whole, so never seen empty). When the lock is held, waits and lets the caller look again.
 */
async function removeIfEmpty(path: string): Promise<void> {
  let lock;
  try {
    lock = await lockDirectory(path);
  } catch (error) {
    if (!(error instanceof DirectoryLockedError)) throw error;
    await sleep(20 + Math.random() * 30);
    return;
  }
  try {
    const now = await readFile(path, 'utf8').catch(() => undefined);
    if (now !== undefined && now.trim() === '') await unlink(path);
  } finally {
    await lock.release();
  }
}

