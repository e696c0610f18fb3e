/**
 * Lists every file of a directory to push, refusing to skip anything silently: a symlink that
 * leaves the directory, a special file (FIFO, socket, device) or an unreadable entry is an error
 * naming the path, unless the caller excluded it.
 */
import { lstat, opendir, realpath, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';

/** One regular file to push. */
export interface LocalFile {
  /** Path inside the directory, `/`-separated. */
  readonly relativePath: string;
  /** Where to read it. */
  readonly absolutePath: string;
  /** Size when listed. */
  readonly size: number;
}

/** Raised when entries cannot be pushed; lists every problem found. */
export class WalkError extends Error {
  override readonly name = 'WalkError';
  /** One line per problem. */
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`cannot push ${problems.length} entr${problems.length === 1 ? 'y' : 'ies'}:\n  ${problems.join('\n  ')}`);
    this.problems = problems;
  }
}

/** Lists the files below `root`, sorted by relative path; `exclude` returns true for paths to leave out. */
export async function walkDirectory(root: string, exclude: (relativePath: string) => boolean = () => false): Promise<LocalFile[]> {
  const top = await realpath(root);
  if (!(await stat(top)).isDirectory()) throw new WalkError([`${root}: not a directory`]);
  const files: LocalFile[] = [];
  const problems: string[] = [];
  const inside = (p: string): boolean => p === top || p.startsWith(top + sep);

  async function visit(dir: string): Promise<void> {
    let handle;
    try {
      handle = await opendir(dir);
    } catch (err) {
      problems.push(`${relative(top, dir) || '.'}: cannot read directory (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
      return;
    }
    for await (const entry of handle) {
      const abs = join(dir, entry.name);
      const rel = relative(top, abs).split(sep).join('/');
      if (exclude(rel)) continue;
      const info = await lstat(abs);
      if (info.isDirectory()) {
        await visit(abs);
      } else if (info.isFile()) {
        files.push({ relativePath: rel, absolutePath: abs, size: info.size });
      } else if (info.isSymbolicLink()) {
        const target = await realpath(abs).catch(() => undefined);
        const targetInfo = target === undefined ? undefined : await stat(target).catch(() => undefined);
        if (target === undefined || targetInfo === undefined) problems.push(`${rel}: dangling symbolic link`);
        else if (!inside(target)) problems.push(`${rel}: symbolic link leaves the directory`);
        else if (targetInfo.isFile()) files.push({ relativePath: rel, absolutePath: target, size: targetInfo.size });
        else problems.push(`${rel}: symbolic link to something other than a regular file`);
      } else {
        problems.push(`${rel}: special file (FIFO, socket or device) cannot be pushed`);
      }
    }
  }
  await visit(top);
  if (problems.length > 0) throw new WalkError(problems.sort());
  return files.sort((a, b) => (a.relativePath < b.relativePath ? -1 : a.relativePath > b.relativePath ? 1 : 0));
}
