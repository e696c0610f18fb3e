/**
 * Which of a pull's target paths exist already (so `pull` without --force can refuse before writing),
 * and whether one already holds the package's bytes (so a pull run again, after Ctrl-C or a failure,
 * keeps what it had placed instead of refusing or fetching it again).
 *
 * One check per directory, and per file only inside directories that exist: a pull into a new
 * directory (the usual case) looks at each of its directories once instead of at 10,000 files. The
 * existence checks, and the reading of small files, are synchronous: they run before any transfer
 * starts, where each `fs/promises` call would cost a thread-pool round trip (~50–100 µs on a slow VM, a
 * second for 10,000 files) for a call of a few µs.
 */
import { createReadStream, existsSync, lstatSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname, sep } from 'node:path';
import { createDualHasher, type DualDigests } from './dual-hasher.ts';

/** The paths of `targets` (absolute file paths) that exist, in order; a dangling symlink counts as absent, as for `access(2)`. */
export function existingTargets(targets: readonly string[]): string[] {
  const directories = new Map<string, boolean>();
  const existing: string[] = [];
  for (const target of targets) {
    const directory = dirname(target);
    let present = directories.get(directory);
    if (present === undefined) {
      present = isDirectory(directory);
      directories.set(directory, present);
    }
    if (present && existsSync(target)) existing.push(target);
  }
  return existing;
}

/** Files up to this size are read whole to be checked; larger ones are streamed in 1 MiB reads. */
const READ_WHOLE_BYTES = 1024 * 1024;

/** Tells whether `path` already holds `expected`'s bytes; `signal` stops the reading of a large file. */
export type InPlaceCheck = (path: string, expected: DualDigests, signal?: AbortSignal) => Promise<boolean>;

/**
 * A check of targets below `root` (cached per directory). A target is in place only when it is a regular
 * file of its own (not a symlink, which could lead anywhere, nor one of several hard links, which
 * another name could change), in a directory that really lies below `root` (not reached through a
 * symlinked directory), of `expected.size` bytes, with `expected`'s SHA-256 and BLAKE3. A file that
 * cannot be looked at or read is not in place (`--force` then replaces it, as before).
 */
export function inPlaceCheck(root: string): InPlaceCheck {
  const realRoot = realPathOf(root);
  const below = new Map<string, boolean>();
  const isBelowRoot = (directory: string): boolean => {
    let inside = below.get(directory);
    if (inside === undefined) {
      const real = realPathOf(directory);
      inside = realRoot !== undefined && real !== undefined && real.startsWith(realRoot.endsWith(sep) ? realRoot : realRoot + sep);
      below.set(directory, inside);
    }
    return inside;
  };
  return async (path, expected, signal) => {
    if (!isBelowRoot(dirname(path))) return false;
    try {
      const info = lstatSync(path, { throwIfNoEntry: false });
      if (info === undefined || !info.isFile() || info.nlink !== 1 || info.size !== expected.size) return false;
      const hasher = createDualHasher();
      if (expected.size <= READ_WHOLE_BYTES) hasher.update(readFileSync(path));
      else for await (const chunk of createReadStream(path, { highWaterMark: READ_WHOLE_BYTES, ...(signal === undefined ? {} : { signal }) })) hasher.update(chunk as Buffer);
      const got = hasher.digests();
      return got.size === expected.size && got.sha256 === expected.sha256 && got.blake3 === expected.blake3;
    } catch (error) {
      if (signal?.aborted === true) throw error;
      return false;
    }
  };
}

/** The real path of `path` (symlinks resolved), or undefined when it cannot be resolved. */
function realPathOf(path: string): string | undefined {
  try {
    return realpathSync.native(path);
  } catch {
    return undefined;
  }
}

/** True when `path` is a directory (through symlinks); false when absent or anything else is in the way. */
function isDirectory(path: string): boolean {
  try {
    return statSync(path, { throwIfNoEntry: false })?.isDirectory() ?? false;
  } catch {
    // ENOTDIR (a file on the way), EACCES...: no file below it can be looked at, nor exist as a target.
    return false;
  }
}
