// @ts-check
/**
 * Publish worker, started by `publish-pool.ts`: makes staged objects durable and visible under their
 * keys with synchronous system calls (message contract: `publish-protocol.ts`).
 *
 * Why a worker with blocking calls: publishing a small object takes a dozen file-system calls (create,
 * write, fsync, lstat/realpath, mkdir, link, directory fsyncs, unlink). Made from the main thread through
 * `fs/promises`, each costs a promise, a handle object and a thread-pool hop, which for 4 KiB files cost
 * more CPU than the system calls themselves, and the fsyncs queued behind each other in the four
 * thread-pool slots. Here they are plain calls, and several workers keep several fsyncs in flight.
 *
 * Plain JavaScript for the same reason as `core/identity/hash-worker.js`: a worker thread does not get
 * the parent's TypeScript loader.
 *
 * Rules kept from the asynchronous writer this replaces (see `local-writer.ts`):
 * - data is synced before any name points at it; every directory on the object's path is synced
 *   before the item is reported, also when the object was already there (another writer's entries may
 *   not be durable yet);
 * - an item whose object is already stored is neither staged nor synced: its bytes are dropped, and the
 *   stored object's were synced before its name was made (for a 1 GiB duplicate the sync was the disk's
 *   cache flush of the whole file, 0.4 s or more; for a small one, a file written and synced for
 *   nothing);
 * - link(2), never rename(2): an existing object is never replaced (EEXIST means "already stored"),
 *   except a damaged copy (another size) when the item asks for it (`replaceDamaged`): rename(2) then;
 * - parent directories are created one level at a time and must be real directories inside the root:
 *   a regular file on the way means the key nests under a stored key, a symlink is an integrity error;
 * - a directory pruned by a concurrent delete between mkdir and link is re-created (bounded retries).
 */
import { randomUUID } from 'node:crypto';
import { closeSync, constants, fsyncSync, linkSync, lstatSync, mkdirSync, openSync, realpathSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import { parentPort } from 'node:worker_threads';

/** @typedef {import('./publish-protocol.ts').PublishRequest} PublishRequest */
/** @typedef {import('./publish-protocol.ts').PublishItem} PublishItem */
/** @typedef {import('./publish-protocol.ts').PublishResult} PublishResult */
/** @typedef {import('./publish-protocol.ts').PublishFailure} PublishFailure */
/** @typedef {import('./publish-protocol.ts').PublishRoot} PublishRoot */

if (parentPort === null) throw new Error('publish-worker.js must run as a worker thread');
const port = parentPort;

// Losing the race against a concurrent prune this many times in a row means something else is wrong.
const MAX_LINK_ATTEMPTS = 8;
const STAGED_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL;

/** A refusal decided here (not a system error). */
class Refusal extends Error {
  /** @param {'invalid-key' | 'integrity' | 'unavailable'} storageCode @param {string} message */
  constructor(storageCode, message) {
    super(message);
    this.storageCode = storageCode;
  }
}

/** @param {unknown} error @returns {PublishFailure} */
function failureOf(error) {
  if (error instanceof Refusal) return { storageCode: error.storageCode, message: error.message };
  const e = /** @type {{ code?: unknown; syscall?: unknown; message?: unknown }} */ (typeof error === 'object' && error !== null ? error : {});
  return {
    ...(typeof e.code === 'string' ? { errno: e.code } : {}),
    ...(typeof e.syscall === 'string' ? { syscall: e.syscall } : {}),
    message: typeof e.message === 'string' ? e.message : String(error),
  };
}

/** @param {unknown} error @param {...string} codes */
function hasErrno(error, ...codes) {
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string' && codes.includes(error.code);
}

/** @param {string} path */
function syncPath(path) {
  const fd = openSync(path, constants.O_RDONLY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Throws `unavailable` when the root is gone (so a vanished mount is not reported as a missing parent). */
/** @param {string} root */
function requireRoot(root) {
  let isDirectory = false;
  try {
    isDirectory = statSync(root).isDirectory();
  } catch (error) {
    if (!hasErrno(error, 'ENOENT', 'ENOTDIR')) throw error;
  }
  if (!isDirectory) throw new Refusal('unavailable', 'local storage: root directory does not exist');
}

/**
 * Writes `bytes` to a new staging file and syncs it; returns its path. Creates the staging directory
 * (never the root) when it is missing.
 * @param {PublishRoot} where @param {Uint8Array} bytes
 */
function stageBytes(where, bytes) {
  const path = join(where.stagingDirectory, randomUUID());
  let fd;
  try {
    // Mode 0444 like every staged file: committed objects are immutable.
    fd = openSync(path, STAGED_FLAGS, 0o444);
  } catch (error) {
    if (!hasErrno(error, 'ENOENT')) throw error;
    requireRoot(where.root);
    try {
      mkdirSync(where.stagingDirectory);
    } catch (mkdirError) {
      if (!hasErrno(mkdirError, 'EEXIST')) throw mkdirError;
    }
    fd = openSync(path, STAGED_FLAGS, 0o444);
  }
  try {
    for (let at = 0; at < bytes.byteLength; ) at += writeSync(fd, bytes, at, bytes.byteLength - at);
    fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    unlinkQuietly(path);
    throw error;
  }
  closeSync(fd);
  return path;
}

/** @param {string} path */
function unlinkQuietly(path) {
  try {
    unlinkSync(path);
  } catch {
    // Litter in .staging, not a failure of the object.
  }
}

/**
 * The fast way to the parent directory (most commits): find the deepest existing level; if its real
 * path is exactly the root's plus the segments (no symlink on the way), create only the levels below.
 * True when the parent is there and known to be inside the root (mkdir does not follow a symlink in its
 * last component); false when anything was unexpected (the careful walk then decides).
 * @param {PublishRoot} where @param {readonly string[]} parents
 */
function createBelowDeepestExisting(where, parents) {
  let level = parents.length;
  for (; level > 0; level--) {
    const directory = join(where.root, ...parents.slice(0, level));
    let info;
    try {
      // Absent is the common case (a new leaf directory): no exception (an Error with its stack) for it.
      info = lstatSync(directory, { throwIfNoEntry: false });
    } catch {
      return false;
    }
    if (info === undefined) continue;
    if (!info.isDirectory()) return false;
    let real;
    try {
      // One realpath(3); the JavaScript realpathSync makes an lstat per component of the absolute path.
      real = realpathSync.native(directory);
    } catch {
      return false;
    }
    if (real !== join(where.realRoot, ...parents.slice(0, level))) return false;
    break;
  }
  for (let next = level + 1; next <= parents.length; next++) {
    try {
      mkdirSync(join(where.root, ...parents.slice(0, next)));
    } catch {
      // Raced with another writer or a prune, or the root is gone: the careful walk sorts it out.
      return false;
    }
  }
  return true;
}

/**
 * Creates the directories above a key one level at a time from the root, refusing to pass through
 * anything that is not a real directory.
 * @param {PublishRoot} where @param {readonly string[]} parents
 */
function carefulWalk(where, parents) {
  let directory = where.root;
  for (const segment of parents) {
    directory = join(directory, segment);
    try {
      mkdirSync(directory);
      continue;
    } catch (error) {
      if (hasErrno(error, 'ENOENT')) requireRoot(where.root);
      if (!hasErrno(error, 'EEXIST')) throw error;
    }
    const info = lstatSync(directory);
    if (info.isDirectory()) continue;
    if (info.isFile()) throw new Refusal('invalid-key', 'nests under a stored key');
    throw new Refusal('integrity', 'local storage: a path component is a symbolic link or special file');
  }
}

/** @param {PublishRoot} where @param {string} directory */
function assertInsideRoot(where, directory) {
  const real = realpathSync.native(directory);
  const base = where.realRoot;
  if (real !== base && !real.startsWith(base.endsWith(sep) ? base : base + sep)) {
    throw new Refusal('integrity', 'local storage: path leaves the root through a symbolic link');
  }
}

/** Staging an item's data failed inside `linkItem`; carries the original error. */
class StageFailed extends Error {
  /** @param {unknown} cause */
  constructor(cause) {
    super('staging failed', { cause });
  }
}

/**
 * Gives the item's target a name for its data: `created` when this call created the object, `stored`
 * when it was there, `repaired` when a damaged copy (another size) was there and the item's
 * `replaceDamaged` let its data replace it. `stage` makes the data durable and returns the staged path
 * to link; it runs once, right before the first link, and not at all when the object turns out to be
 * stored already (checked once the parents are known to be real directories inside the root).
 * @param {PublishRoot} where @param {PublishItem} item @param {() => string} stage
 * @returns {'created' | 'stored' | 'repaired'}
 */
function linkItem(where, item, stage) {
  /** @type {string | undefined} */
  let staged;
  /** @type {unknown} */
  let lastError;
  for (let attempt = 1; attempt <= MAX_LINK_ATTEMPTS; attempt++) {
    try {
      if (!createBelowDeepestExisting(where, item.parents)) {
        carefulWalk(where, item.parents);
        assertInsideRoot(where, dirname(item.target));
      }
      /** @type {'absent' | 'stored' | 'damaged'} */
      let existing = 'absent';
      if (staged === undefined) {
        existing = existingObject(item);
        if (existing === 'stored') return 'stored';
        try {
          staged = stage();
        } catch (error) {
          throw new StageFailed(error); // not a vanished directory: never retried
        }
      }
      if (existing === 'damaged') return replaceDamaged(staged, item.target);
      linkSync(staged, item.target);
      return 'created';
    } catch (error) {
      if (error instanceof StageFailed) throw error.cause;
      if (hasErrno(error, 'EEXIST')) {
        const existing = existingObject(item);
        if (existing === 'stored') return 'stored';
        if (existing === 'damaged' && staged !== undefined) return replaceDamaged(staged, item.target);
      } else if (!hasErrno(error, 'ENOENT', 'ENOTDIR')) {
        throw error;
      }
      lastError = error;
    }
  }
  const detail = lastError instanceof Error ? `: ${lastError.message}` : '';
  throw new Refusal('unavailable', `local storage: directories kept vanishing${detail}`);
}

/**
 * Replaces a damaged copy at `target` with the staged data: rename(2) swaps the name atomically (a
 * reader sees the old file or the new one), and the staged name is gone afterwards (its removal by the
 * caller finds nothing). The directory syncs after `linkItem` make the new entry durable.
 * @param {string} staged @param {string} target @returns {'repaired'}
 */
function replaceDamaged(staged, target) {
  renameSync(staged, target);
  return 'repaired';
}

/**
 * What is at the item's target: `stored` for an object (already stored), `absent` when nothing is (or
 * the entry vanished again after an EEXIST: a concurrent delete; retry). A directory means the key nests
 * with stored keys; an object of another size than the item's is a damaged copy: `damaged` when the item
 * may replace it, else refused (the caller's verified bytes are not stored).
 * @param {PublishItem} item @returns {'absent' | 'stored' | 'damaged'}
 */
function existingObject(item) {
  const { target, size } = item;
  // Absent (ENOENT) is the common case, a new object: returned, not thrown. Other errors throw as before.
  const info = lstatSync(target, { throwIfNoEntry: false });
  if (info === undefined) return 'absent';
  if (info.isFile()) {
    if (info.size === size) return 'stored';
    if (item.replaceDamaged === true) return 'damaged';
    throw new Refusal('integrity', `local storage: the object already stored under this key is ${info.size} bytes, not ${size}: that copy is damaged (artifactstore storage verify records it)`);
  }
  if (info.isDirectory()) throw new Refusal('invalid-key', 'is a prefix of stored keys');
  throw new Refusal('integrity', 'local storage: the object path is a symbolic link or special file');
}

/**
 * The directories holding `target`'s entry and each of its parents' entries: from its own directory up
 * to and including the root.
 * @param {string} root @param {string} target
 */
function ancestry(root, target) {
  /** @type {string[]} */
  const directories = [];
  for (let directory = dirname(target); directory.length >= root.length; directory = dirname(directory)) {
    directories.push(directory);
    if (directory === root) break;
  }
  return directories;
}

/** @param {PublishRequest} request @returns {PublishResult[]} */
function publish(request) {
  const { items } = request;
  /** @type {(PublishResult | undefined)[]} */
  const results = items.map(() => undefined);
  /** @type {string[]} */
  const ours = [];
  // 1 and 2. Per item: data on disk (bytes staged and synced, or the writer's staged file synced), then
  // its name. Both happen inside `linkItem`, after the parents are checked and only when the object is
  // not stored already: a duplicate is neither written nor synced.
  /** @type {Map<number, { outcome: 'created' | 'stored' | 'repaired'; directories: string[] }>} */
  const pending = new Map();
  items.forEach((item, i) => {
    try {
      /** @type {() => string} */
      let stage;
      if (item.bytes !== undefined) {
        const bytes = item.bytes;
        stage = () => {
          const path = stageBytes(request, bytes);
          ours.push(path);
          return path;
        };
      } else if (item.stagedPath !== undefined) {
        const path = item.stagedPath;
        stage = () => {
          syncPath(path);
          return path;
        };
      } else {
        throw new Refusal('unavailable', 'publish item carries neither bytes nor a staged file');
      }
      const outcome = linkItem(request, item, stage);
      // Every directory from the object's up to the root, whoever created them: an entry another
      // writer made (or an earlier attempt of ours, or an earlier request that failed before its
      // syncs) may not be durable yet, and an object found already there is reported stored only
      // once its path is. Syncing a clean directory costs little.
      pending.set(i, { outcome, directories: ancestry(request.root, item.target) });
    } catch (error) {
      results[i] = { ok: false, failure: failureOf(error) };
    }
  });
  // 3. Each directory entry made durable once, however many objects landed in it.
  /** @type {Map<string, PublishFailure | undefined>} */
  const synced = new Map();
  for (const { directories } of pending.values()) {
    for (const directory of directories) {
      if (synced.has(directory)) continue;
      try {
        syncPath(directory);
        synced.set(directory, undefined);
      } catch (error) {
        synced.set(directory, failureOf(error));
      }
    }
  }
  for (const [i, { outcome, directories }] of pending) {
    const failure = directories.map((directory) => synced.get(directory)).find((f) => f !== undefined);
    if (failure !== undefined) results[i] = { ok: false, failure };
    else results[i] = outcome === 'repaired' ? { ok: true, created: false, repaired: true } : { ok: true, created: outcome === 'created' };
  }
  // 4. The staging names this worker made; objects keep their inode through the new link.
  for (const path of ours) unlinkQuietly(path);
  return results.map((result) => result ?? { ok: false, failure: { storageCode: 'unavailable', message: 'publish item was not processed' } });
}

port.on('message', (/** @type {PublishRequest} */ request) => {
  /** @type {PublishResult[]} */
  let results;
  try {
    results = publish(request);
  } catch (error) {
    const failure = failureOf(error);
    results = request.items.map(() => ({ ok: false, failure }));
  }
  port.postMessage({ id: request.id, results });
});
