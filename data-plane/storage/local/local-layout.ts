/**
 * Where keys live under a local root, and the path checks that keep every operation inside it.
 *
 * `validateKey` already rules out '..', absolute keys and odd characters; the checks here are defence
 * in depth against what a key cannot express: symbolic links planted inside the root. Node has no
 * `openat`/`O_NOFOLLOW` for directories, so these checks are best effort against a concurrent attacker
 * with write access to the root, but they stop an operator's stray symlink from sending reads or writes
 * elsewhere.
 */
import { randomUUID } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { lstat, mkdir, open, realpath, rmdir, stat, type FileHandle } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { StorageError } from '../errors.ts';
import { validateKey } from '../keys.ts';
import { hasErrno, translateFsError } from './fs-errors.ts';
import type { PublishRoot } from './publish-protocol.ts';

/** Name of the staging directory under the root; keys cannot start with '.', so it never clashes. */
export const STAGING_DIRECTORY = '.staging';

/** A freshly created staging file, open for writing. */
export interface StagedFile {
  /** Absolute path of the staging file. */
  readonly path: string;
  /** Handle open for writing. */
  readonly handle: FileHandle;
}

/** Path arithmetic and safety checks for one local root. */
export interface LocalLayout {
  /** The root, resolved to an absolute path. */
  readonly root: string;
  /** Absolute path of `<root>/.staging`. */
  readonly stagingDirectory: string;
  /** `<root>/<key>` after validating `key` and checking the joined path stays under the root. */
  objectPath(key: string): string;
  /** Throws `unavailable` unless the root exists and is a directory. */
  requireRoot(): Promise<void>;
  /** Throws `integrity` when `directory` (resolved through symlinks) is not the root or below it. */
  assertInsideRoot(directory: string): Promise<void>;
  /** What a publish worker needs to know of this root (`publish-protocol.ts`). */
  where(): Promise<PublishRoot>;
  /** The directory names from the root down to the parent of `key`'s object (`key` validated). */
  parentsOf(key: string): string[];
  /**
   * Removes now-empty directories above `path`, up to (not including) the root. Best effort. Resolves
   * with the deepest directory still there (the root at most): the one whose fsync makes the removals
   * durable.
   */
  pruneParents(path: string): Promise<string>;
  /** Creates a new, uniquely named staging file (mode 0600, made 0444 by the commit), open for writing. */
  createStagedFile(): Promise<StagedFile>;
}

/** Creates the layout for `root` (resolved against the working directory when relative). */
export function createLocalLayout(root: string): LocalLayout {
  const absoluteRoot = resolve(root);
  const rootPrefix = absoluteRoot.endsWith(sep) ? absoluteRoot : absoluteRoot + sep;
  const stagingDirectory = join(absoluteRoot, STAGING_DIRECTORY);
  let realRoot: string | undefined;
  let stagingReady: Promise<void> | undefined;

  const requireRoot = async (): Promise<void> => {
    let info: Stats;
    try {
      info = await stat(absoluteRoot);
    } catch (error) {
      if (hasErrno(error, 'ENOENT', 'ENOTDIR')) throw new StorageError('unavailable', 'local storage: root directory does not exist', { cause: error });
      throw translateFsError(error, 'check root directory');
    }
    if (!info.isDirectory()) throw new StorageError('unavailable', 'local storage: root is not a directory');
  };

  const resolveRealRoot = async (): Promise<string> => {
    if (realRoot === undefined) {
      await requireRoot();
      realRoot = await realpath(absoluteRoot).catch((error: unknown) => {
        throw translateFsError(error, 'resolve root directory');
      });
    }
    return realRoot;
  };

  const ensureStaging = async (): Promise<void> => {
    try {
      await mkdir(stagingDirectory);
    } catch (error) {
      if (hasErrno(error, 'ENOENT')) await requireRoot();
      if (!hasErrno(error, 'EEXIST')) throw translateFsError(error, 'create staging directory');
      const info = await lstat(stagingDirectory);
      if (!info.isDirectory()) throw new StorageError('integrity', 'local storage: staging path is not a directory');
    }
  };

  return {
    root: absoluteRoot,
    stagingDirectory,

    objectPath(key) {
      const path = join(absoluteRoot, ...validateKey(key).split('/'));
      // Unreachable after validateKey; kept so a future loosening of the key grammar cannot escape the root.
      if (!path.startsWith(rootPrefix)) throw new StorageError('invalid-key', 'storage key resolves outside the root');
      return path;
    },

    requireRoot,

    async assertInsideRoot(directory) {
      const base = await resolveRealRoot();
      const real = await realpath(directory);
      if (real !== base && !real.startsWith(base.endsWith(sep) ? base : base + sep)) {
        throw new StorageError('integrity', 'local storage: path leaves the root through a symbolic link');
      }
    },

    where: async () => ({ root: absoluteRoot, realRoot: await resolveRealRoot(), stagingDirectory }),

    parentsOf: (key) => validateKey(key).split('/').slice(0, -1),

    async pruneParents(path) {
      for (let directory = dirname(path); directory.startsWith(rootPrefix); directory = dirname(directory)) {
        try {
          await rmdir(directory);
        } catch (error) {
          // Gone already (a concurrent delete pruned it): its parent may be empty now, keep climbing.
          if (hasErrno(error, 'ENOENT')) continue;
          // Not empty, or anything else: stop. Leftover empty directories cost nothing but an inode.
          return directory;
        }
      }
      return absoluteRoot;
    },

    async createStagedFile() {
      const path = join(stagingDirectory, randomUUID());
      for (let attempt = 0; ; attempt++) {
        stagingReady ??= ensureStaging().catch((error: unknown) => {
          stagingReady = undefined;
          throw error;
        });
        await stagingReady;
        try {
          // Mode 0600 while staging: the writer may open it a second time for direct writes, which a
          // read-only mode would refuse to anyone but root. The commit makes it 0444 before publishing:
          // committed objects are immutable, and a read-only file guards against an operator's mistake.
          const handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
          return { path, handle };
        } catch (error) {
          // Someone removed .staging since we last made sure of it: make it again, once.
          if (attempt === 0 && hasErrno(error, 'ENOENT')) {
            stagingReady = undefined;
            continue;
          }
          throw translateFsError(error, 'create staging file');
        }
      }
    },
  };
}
