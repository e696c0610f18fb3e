/**
 * Fsyncs every file and directory below a directory, and the directory's own entry in its parent: for
 * a tree written without fsyncs (PGlite unpacking a new database) that must be durable before anything
 * relies on it. Up to 16 fsyncs run at once; the filesystem's journal commits them together.
 */
import { opendir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { syncPath } from './create-durably.ts';

const PARALLEL = 16;

/** Every path below `root` (files, then the directories holding them, deepest first), and `root`. */
async function listTree(root: string): Promise<{ files: string[]; directories: string[] }> {
  const files: string[] = [];
  const directories: string[] = [];
  const walk = async (directory: string): Promise<void> => {
    for await (const entry of await opendir(directory)) {
      const path = join(directory, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (entry.isFile()) files.push(path);
    }
    directories.push(directory);
  };
  await walk(root);
  return { files, directories };
}

/** See the file comment. Returns how many paths were synced. */
export async function syncTree(root: string): Promise<number> {
  const { files, directories } = await listTree(root);
  const queue = [...files];
  const worker = async (): Promise<void> => {
    for (let path = queue.shift(); path !== undefined; path = queue.shift()) await syncPath(path);
  };
  await Promise.all(Array.from({ length: PARALLEL }, worker));
  // Directories after the files they name, deepest first; then root's entry in its parent.
  for (const directory of directories) await syncPath(directory);
  await syncPath(dirname(root));
  return files.length + directories.length + 1;
}
