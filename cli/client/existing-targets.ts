/**
 * Which of a pull's target paths exist already (so `pull` without --force can refuse before writing).
 *
 * One check per directory, and per file only inside directories that exist: a pull into a new
 * directory (the usual case) looks at each of its directories once instead of at 10,000 files. The
 * checks are synchronous: they run before any transfer starts, where each `fs/promises` call would cost
 * a thread-pool round trip (~50–100 µs on a slow VM, a second for 10,000 files) for a call of a few µs.
 */
import { existsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

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

/** True when `path` is a directory (through symlinks); false when absent or anything else is in the way. */
function isDirectory(path: string): boolean {
  try {
    return statSync(path, { throwIfNoEntry: false })?.isDirectory() ?? false;
  } catch {
    // ENOTDIR (a file on the way), EACCES...: no file below it can be looked at, nor exist as a target.
    return false;
  }
}
