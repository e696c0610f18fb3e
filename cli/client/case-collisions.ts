/**
 * Paths of a package that one target directory cannot hold apart. A package may hold `Readme.txt` and
 * `README.txt` (its paths are case-sensitive, as on Linux); a case-insensitive filesystem (macOS and
 * Windows by default, exFAT, FAT) stores both in one file, so a pull there would end with one of them
 * missing while every download checked out.
 *
 * Only when some paths or directories of the package differ by case alone (a cheap check, which may
 * over-approximate) is the filesystem asked: the package's tree is laid out as empty files, each holding
 * its path's index, in a new directory where the pull will write, in the pull's order. A path whose name
 * is already there, or whose directory is a file there (or the reverse), names one place with an earlier
 * path. So a case-sensitive filesystem never refuses anything, and a folding one refuses exactly what it
 * would merge, by its own rules (exFAT keeps `ß` and `ss` apart, but merges `SS` and `ss`).
 */
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { CodedError } from '../../core/errors/coded-error.ts';

/** Two package paths that name one place in the target directory. */
export interface PathCollision {
  readonly first: string;
  readonly second: string;
}

/** A pull refused because the target would merge paths of the package. */
export class PathCollisionError extends CodedError<'path-collision'> {
  override readonly name = 'PathCollisionError';
  constructor(
    message: string,
    readonly collisions: readonly PathCollision[],
  ) {
    super('path-collision', message);
  }
}

/** Case-folded form used to find candidates (an over-approximation: the filesystem decides). */
function folded(path: string): string {
  return path.normalize('NFC').toUpperCase().toLowerCase();
}

/** True when two spellings of a path or of one of its directories fold together. */
function hasCaseVariants(paths: readonly string[]): boolean {
  const spellings = new Map<string, string>();
  for (const path of paths) {
    const segments = path.split('/');
    for (let end = 1; end <= segments.length; end++) {
      const prefix = segments.slice(0, end).join('/');
      const key = folded(prefix);
      const seen = spellings.get(key);
      if (seen === undefined) spellings.set(key, prefix);
      else if (seen !== prefix) return true;
    }
  }
  return false;
}

/** The nearest directory at or above `path` that exists (where the pull's directories will be created). */
async function existingAncestor(path: string): Promise<string> {
  for (let dir = path; ; dir = dirname(dir)) {
    const info = await stat(dir).catch(() => undefined);
    if (info?.isDirectory() === true) return dir;
    if (dirname(dir) === dir) throw new Error(`no existing directory above ${path}`);
  }
}

function hasCode(error: unknown, ...codes: string[]): boolean {
  return codes.includes((error as NodeJS.ErrnoException).code ?? '');
}

/**
 * Returns the pairs of `paths` (package paths, `/`-separated, in the order the pull writes them) that the
 * filesystem of `root` would store in one place. Creates nothing that outlives the call.
 */
export async function findPathCollisions(root: string, paths: readonly string[]): Promise<PathCollision[]> {
  if (!hasCaseVariants(paths)) return [];
  const probe = await mkdtemp(join(await existingAncestor(root), '.artifactstore-case-probe-'));
  // Which earlier path made a directory (by its folded spelling: only to name it in a message).
  const directoryOwner = new Map<string, number>();
  const collisions: PathCollision[] = [];
  /** The earlier path whose file sits at `place`, if it is one of ours. */
  const ownerOf = async (place: string): Promise<string | undefined> => {
    const text = await readFile(place, 'utf8').catch(() => undefined);
    return text === undefined ? undefined : paths[Number(text)];
  };
  try {
    for (const [index, path] of paths.entries()) {
      const segments = path.split('/');
      const target = join(probe, ...segments);
      const earlier = await ownerOf(target);
      if (earlier !== undefined) {
        collisions.push({ first: earlier, second: path });
        continue;
      }
      try {
        await mkdir(dirname(target), { recursive: true });
      } catch (error) {
        if (!hasCode(error, 'EEXIST', 'ENOTDIR')) throw error;
        // A directory of this path is a file of an earlier one there.
        let blocker: string | undefined;
        for (let end = 1; end < segments.length && blocker === undefined; end++) blocker = await ownerOf(join(probe, ...segments.slice(0, end)));
        collisions.push({ first: blocker ?? '(an earlier file)', second: path });
        continue;
      }
      try {
        await writeFile(target, String(index), { flag: 'wx' });
      } catch (error) {
        if (!hasCode(error, 'EEXIST', 'EISDIR')) throw error;
        // This file's name is a directory of earlier paths there.
        const owner = directoryOwner.get(folded(path));
        collisions.push({ first: owner === undefined ? '(an earlier directory)' : (paths[owner] as string), second: path });
        continue;
      }
      for (let end = 1; end < segments.length; end++) {
        const key = folded(segments.slice(0, end).join('/'));
        if (!directoryOwner.has(key)) directoryOwner.set(key, index);
      }
    }
    return collisions;
  } finally {
    await rm(probe, { recursive: true, force: true });
  }
}
