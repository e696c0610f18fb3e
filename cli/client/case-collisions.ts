/**
 * Paths of a package that one target directory cannot hold apart. A package may hold `Readme.txt` and
 * `README.txt` (its paths are case-sensitive, as on Linux); a case-insensitive filesystem (macOS and
 * Windows by default, exFAT, FAT) stores both in one file, so a pull there would end with one of them
 * missing while every download checked out.
 *
 * Only paths that fold to the same string are candidates, and for each the filesystem itself is asked:
 * a probe file with one spelling is created in a new directory where the pull will write, and the other
 * spelling looked up. So a case-sensitive filesystem never refuses anything, and a folding one refuses
 * exactly the pairs it would merge.
 */
import { constants } from 'node:fs';
import { access, mkdtemp, open, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { CodedError } from '../../core/errors/coded-error.ts';

/** Two package paths that name one file in the target directory. */
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

/** The nearest directory at or above `path` that exists (where the pull's directories will be created). */
async function existingAncestor(path: string): Promise<string> {
  for (let dir = path; ; dir = dirname(dir)) {
    const info = await stat(dir).catch(() => undefined);
    if (info?.isDirectory() === true) return dir;
    if (dirname(dir) === dir) throw new Error(`no existing directory above ${path}`);
  }
}

/**
 * Returns the pairs of `paths` (package paths, `/`-separated) that the filesystem of `root` would store
 * as one file. Creates nothing that outlives the call (a probe directory is made and removed only when
 * some paths differ by case alone).
 */
export async function findPathCollisions(root: string, paths: readonly string[]): Promise<PathCollision[]> {
  const byFolded = new Map<string, string>();
  const candidates: PathCollision[] = [];
  for (const path of paths) {
    const key = folded(path);
    const seen = byFolded.get(key);
    if (seen === undefined) byFolded.set(key, path);
    else if (seen !== path) candidates.push({ first: seen, second: path });
  }
  if (candidates.length === 0) return [];
  const probeDir = await mkdtemp(join(await existingAncestor(root), '.artifactstore-case-probe-'));
  try {
    const merges = new Map<string, boolean>();
    const collisions: PathCollision[] = [];
    for (const candidate of candidates) {
      // The first segment where the spellings differ decides: the rest is the same, or differs the same way.
      const a = candidate.first.split('/');
      const b = candidate.second.split('/');
      const i = a.findIndex((segment, index) => segment !== b[index]);
      const one = a[i] as string;
      const other = b[i] as string;
      const key = `${one}\u0000${other}`;
      let merged = merges.get(key);
      if (merged === undefined) {
        const probe = join(probeDir, one);
        await (await open(probe, 'wx')).close();
        merged = await access(join(probeDir, other), constants.F_OK).then(
          () => true,
          () => false,
        );
        await rm(probe, { force: true });
        merges.set(key, merged);
      }
      if (merged) collisions.push(candidate);
    }
    return collisions;
  } finally {
    await rm(probeDir, { recursive: true, force: true });
  }
}
