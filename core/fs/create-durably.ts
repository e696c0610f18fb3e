/**
 * Creating a small file whole and durably, unless it exists: the content goes to a new temporary file,
 * which is fsynced and then hard-linked to the name (link(2) fails if the name exists), and the directory
 * is fsynced. So the name never shows a partial file to a reader, and after a power loss it is either
 * absent or complete (without the fsyncs, ext4 can keep the name and lose the content: an empty file).
 */
import { randomUUID } from 'node:crypto';
import { link, open, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { hasErrno } from '../errors/errno.ts';

/** Fsyncs a file, or a directory (its entries: names created, linked or removed in it). */
export async function syncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Creates `path` holding `content` (see the file comment); false, changing nothing, when `path` exists. */
export async function createFileDurably(path: string, content: string, mode = 0o644): Promise<boolean> {
  const temporary = join(dirname(path), `.${basename(path)}.${process.pid}.${randomUUID()}`);
  const handle = await open(temporary, 'wx', mode);
  try {
    await handle.writeFile(content);
    await handle.sync();
  } catch (error) {
    await handle.close().catch(() => undefined);
    await unlink(temporary).catch(() => undefined); // ENOSPC, EIO: leave no hidden temporary behind
    throw error;
  }
  await handle.close();
  try {
    await link(temporary, path);
  } catch (error) {
    if (hasErrno(error, 'EEXIST')) return false;
    throw error;
  } finally {
    await unlink(temporary).catch(() => undefined);
  }
  await syncPath(dirname(path));
  return true;
}
