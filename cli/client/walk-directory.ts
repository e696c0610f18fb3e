/**
 * Lists every file of a directory to push, refusing to skip anything silently: a symlink that
 * leaves the directory, a dangling symlink, a special file (FIFO, socket, device), an unreadable file
 * or directory is an error naming the path, unless the caller excluded it. All problems are
 * collected before failing, so one run names every entry to fix or exclude.
 *
 * The per-entry checks (lstat, access) are synchronous: this runs in the CLI, not a server, and for
 * tens of thousands of small files a promise per call costs more than the call.
 */
import { accessSync, constants, lstatSync } from 'node:fs';
import { opendir, realpath, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { CodedError } from '../../core/errors/coded-error.ts';
import { normalizeRelativePath } from '../../core/paths/relative-path.ts';

/** One regular file to push. */
export interface LocalFile {
  /** Path inside the directory, `/`-separated. */
  readonly relativePath: string;
  /** Where to read it (for a symlink inside the directory: its target). */
  readonly absolutePath: string;
  /** Size when listed. */
  readonly size: number;
}

/** Stable codes of walk failures. */
export type WalkErrorCode = 'not-a-directory' | 'unpushable-entries';

/** Raised when entries cannot be pushed; lists every problem found. */
export class WalkError extends CodedError<WalkErrorCode> {
  override readonly name = 'WalkError';
  /** One line per problem: `<relative path>: <what is wrong>`. */
  readonly problems: readonly string[];
  constructor(code: WalkErrorCode, problems: readonly string[]) {
    super(code, code === 'not-a-directory' ? problems.join('; ') : `cannot push ${problems.length} entr${problems.length === 1 ? 'y' : 'ies'} (nothing was uploaded):\n  ${problems.join('\n  ')}`);
    this.problems = problems;
  }
}

/** What a walk found. */
export interface WalkResult {
  /** Files to push, sorted by relative path (UTF-16 code units). */
  readonly files: LocalFile[];
  /** Relative paths the exclude predicate removed (a directory stands for everything below it), sorted. */
  readonly excluded: string[];
  /**
   * Directories with no file anywhere below them, outermost only, sorted: a package holds files, so
   * these are not stored (said, not skipped silently).
   */
  readonly emptyDirectories: string[];
}

function errnoCode(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? String(err);
}

/** Undefined when readable, else the errno code. Synchronous: a CLI listing many files (see the file comment). */
function readable(path: string): string | undefined {
  try {
    accessSync(path, constants.R_OK);
    return undefined;
  } catch (err) {
    return errnoCode(err);
  }
}

/**
 * Walks `root`; `exclude` returns true for relative paths to leave out (checked for directories
 * before entering them). Throws `WalkError` listing every problem, or returns files and exclusions.
 */
export async function walkDirectoryDetailed(root: string, exclude: (relativePath: string) => boolean = () => false): Promise<WalkResult> {
  let top: string;
  try {
    top = await realpath(root);
  } catch (err) {
    throw new WalkError('not-a-directory', [`${root}: cannot open (${errnoCode(err)})`]);
  }
  if (!(await stat(top)).isDirectory()) throw new WalkError('not-a-directory', [`${root}: not a directory`]);
  const files: LocalFile[] = [];
  const excluded: string[] = [];
  const emptyDirectories: string[] = [];
  const problems: string[] = [];
  const inside = (p: string): boolean => p === top || p.startsWith(top + sep);

  /** Walks `dir`; resolves with how many entries below it are pushed or refused (0: an empty directory). */
  async function visit(dir: string): Promise<number> {
    const before = files.length + problems.length + excluded.length;
    const emptyBefore = emptyDirectories.length;
    await visitEntries(dir);
    const found = files.length + problems.length + excluded.length - before;
    if (found === 0 && dir !== top) {
      emptyDirectories.length = emptyBefore; // the outermost empty directory stands for those inside it
      emptyDirectories.push(relative(top, dir).split(sep).join('/'));
    }
    return found;
  }

  async function visitEntries(dir: string): Promise<void> {
    let handle;
    try {
      handle = await opendir(dir);
    } catch (err) {
      problems.push(`${relative(top, dir).split(sep).join('/') || '.'}: cannot read directory (${errnoCode(err)})`);
      return;
    }
    for await (const entry of handle) {
      const abs = join(dir, entry.name);
      const rel = relative(top, abs).split(sep).join('/');
      if (exclude(rel)) {
        excluded.push(rel);
        continue;
      }
      let info;
      try {
        info = lstatSync(abs);
      } catch (err) {
        // Node decodes names as UTF-8, replacing bytes that are not with U+FFFD: that name does not exist.
        const notUtf8 = errnoCode(err) === 'ENOENT' && entry.name.includes('\ufffd');
        problems.push(notUtf8 ? `${rel}: the file name is not valid UTF-8 (package paths are Unicode; rename it)` : `${rel}: cannot stat (${errnoCode(err)})`);
        continue;
      }
      if (info.isDirectory()) {
        await visit(abs);
      } else if (info.isFile()) {
        const denied = readable(abs);
        if (denied !== undefined) problems.push(`${rel}: unreadable file (${denied})`);
        else files.push({ relativePath: rel, absolutePath: abs, size: info.size });
      } else if (info.isSymbolicLink()) {
        const target = await realpath(abs).catch(() => undefined);
        const targetInfo = target === undefined ? undefined : await stat(target).catch(() => undefined);
        if (target === undefined || targetInfo === undefined) problems.push(`${rel}: dangling symbolic link`);
        else if (!inside(target)) problems.push(`${rel}: symbolic link leaves the directory (to ${target})`);
        else if (!targetInfo.isFile()) problems.push(`${rel}: symbolic link to something other than a regular file`);
        else {
          const denied = readable(target);
          if (denied !== undefined) problems.push(`${rel}: symbolic link to an unreadable file (${denied})`);
          else files.push({ relativePath: rel, absolutePath: target, size: targetInfo.size });
        }
      } else {
        problems.push(`${rel}: special file (FIFO, socket or device) cannot be pushed`);
      }
    }
  }
  await visit(top);
  // Paths the server would refuse (backslash, control characters, over-long...) are found here, before
  // anything is created, and so are two names that mean the same package path once normalised (NFC).
  const seen = new Map<string, string>();
  for (const file of files) {
    let normal: string;
    try {
      normal = normalizeRelativePath(file.relativePath);
    } catch (err) {
      problems.push(`${file.relativePath}: not a valid package path (${err instanceof Error ? err.message : String(err)})`);
      continue;
    }
    const other = seen.get(normal);
    if (other !== undefined) problems.push(`${file.relativePath}: same package path as ${other} once normalised to Unicode NFC`);
    else seen.set(normal, file.relativePath);
  }
  if (problems.length > 0) throw new WalkError('unpushable-entries', problems.sort());
  const byPath = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
  return { files: files.sort((a, b) => byPath(a.relativePath, b.relativePath)), excluded: excluded.sort(byPath), emptyDirectories: emptyDirectories.sort(byPath) };
}

/** Lists the files below `root`, sorted by relative path; `exclude` returns true for paths to leave out. */
export async function walkDirectory(root: string, exclude: (relativePath: string) => boolean = () => false): Promise<LocalFile[]> {
  return (await walkDirectoryDetailed(root, exclude)).files;
}
