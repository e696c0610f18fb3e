/**
 * The prototype of node:fs/promises' FileHandle (the class is not exported), for tests that count or
 * fail the real calls every handle makes (`datasync`, `write`): patch a method on it, restore it after.
 */
import { open, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';

/** Opens and removes a scratch file in `dir` to reach the prototype. */
export async function handlePrototype(dir: string): Promise<FileHandle> {
  const handle = await open(join(dir, '.prototype-probe'), 'w');
  try {
    return Object.getPrototypeOf(handle) as FileHandle;
  } finally {
    await handle.close();
    await rm(join(dir, '.prototype-probe'));
  }
}
