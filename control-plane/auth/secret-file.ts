/**
 * Secrets generated on first start and kept in the data directory (`dev-token`, `internal-token`):
 * created with mode 0600 and `wx` (so two processes starting at once cannot both write one), read
 * back on later starts.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

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

/** Reads the secret in `path`, or creates it with a new random token. */
export async function loadOrCreateSecret(path: string): Promise<LoadedSecret> {
  try {
    const value = (await readFile(path, 'utf8')).trim();
    if (value === '') throw new Error(`${path} is empty; delete it to generate a new token`);
    return { value, created: false };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await mkdir(dirname(path), { recursive: true });
  const value = generateToken();
  try {
    await writeFile(path, `${value}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return loadOrCreateSecret(path);
    throw err;
  }
  return { value, created: true };
}
