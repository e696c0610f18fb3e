/**
 * StorageBackend on a local directory: `<root>/<key>` holds each object, `<root>/.staging/` the
 * uncommitted writes (see `../keys.ts` for the drawing). Staging inside the root keeps staged files on
 * the same filesystem as the objects, which the commit's link(2) requires.
 */
import { constants, type Dirent, type Stats } from 'node:fs';
import { access, lstat, open, readdir, statfs, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import type { CommitOptions, CommitResult, GetObjectInput, GetOptions, PutObjectInput, SignalOptions, StorageBackend, StorageHealth, StorageObjectInfo } from '../backend.ts';
import { StorageError, throwIfAborted } from '../errors.ts';
import { isValidKeySegment, MAX_KEY_LENGTH } from '../keys.ts';
import { resolveRange, validateRangeOptions } from '../range.ts';
import { hasErrno, translateFsError, translateReportedFsError } from './fs-errors.ts';
import { createLocalLayout, type LocalLayout } from './local-layout.ts';
import { createBackgroundWork } from '../background-work.ts';
import { createLocalWriter, type SyncBehindObserver } from './local-writer.ts';
import { publishError, publishItems } from './publish-pool.ts';
import { readItems } from './read-pool.ts';
import type { ReadFailure } from './read-protocol.ts';
import { validateGetObjects } from '../get-objects.ts';
import { syncPath } from '../../../core/fs/create-durably.ts';

/**
 * Bytes per read of a stored object (and per chunk handed to the caller) when the caller needs chunks it
 * may keep: Node's default. 1 MiB reads into fresh buffers made downloads 3x faster but, under CPU load,
 * the buffers' release lagged and a 256 MiB download grew the process by 150-210 MiB
 * (test/data-plane/streaming.test.ts).
 */
const READ_CHUNK_BYTES = 64 * 1024;
/**
 * Bytes per read with `reuseBuffers`: two buffers of this size per read, alternating (one with the caller,
 * one being filled), so memory stays at 2 MiB per download however long it is.
 */
const REUSED_READ_BYTES = 1024 * 1024;

/** Objects per publish-worker message in `putObjects`: a 250-object batch keeps four workers busy. */
const PUBLISH_SLICE = 32;

/**
 * Objects per read-worker message in `getObjects`, and bytes: a larger call is split so both workers
 * read at once and no reply holds more than a few MiB.
 */
const READ_SLICE = 32;
const READ_SLICE_BYTES = 4 * 1024 * 1024;

/** Configuration of a local filesystem backend. */
export interface LocalBackendOptions {
  /** Stable name of this backend instance, reported as `StorageBackend.id`. */
  readonly id: string;
  /**
   * Directory holding the store. It must exist: the backend never creates it, so an unmounted volume
   * shows up as `unavailable` instead of objects quietly landing on the wrong disk.
   */
  readonly root: string;
  /** Told the duration of each sync behind of a large object's staged bytes (`SYNC_BEHIND_BYTES`, ADR 0017). */
  readonly onSyncBehind?: SyncBehindObserver;
}

// O_NOFOLLOW: a symlink where an object should be fails with ELOOP (→ `integrity`) instead of being
// read. O_NONBLOCK: a FIFO planted in the store must not hang the open; regular files ignore the flag.
const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** Creates a backend storing objects as files under `options.root`. */
export function createLocalBackend(options: LocalBackendOptions): StorageBackend {
  const layout = createLocalLayout(options.root);

  /** Not-found when the root exists (the object is just absent), `unavailable` when the root is gone. */
  const absent = async (error: unknown, key: string): Promise<StorageError> => {
    await layout.requireRoot();
    return new StorageError('not-found', `no object stored under ${JSON.stringify(key)}`, { cause: error });
  };

  /** The StorageError of an object a read worker could not read, as `get` would have refused it. */
  const readError = async (failure: ReadFailure, key: string): Promise<StorageError> => {
    if (failure.kind === 'absent') return absent(undefined, key);
    if (failure.kind === 'integrity') return new StorageError('integrity', `${JSON.stringify(key)}: ${failure.message}`);
    return translateReportedFsError(failure, `read ${JSON.stringify(key)}`);
  };

  // Removals of duplicates' staged copies, which run after their commits answered.
  const background = createBackgroundWork();

  return {
    id: options.id,

    settle: () => background.settled(),

    createWriter: (writerOptions?: SignalOptions) => createLocalWriter(layout, background, writerOptions, options.onSyncBehind),

    async putObjects(objects: readonly PutObjectInput[], putOptions: CommitOptions = {}): Promise<CommitResult[]> {
      const replaceDamaged = putOptions.replaceDamaged === true;
      const items = objects.map((object) => ({ key: object.key, target: layout.objectPath(object.key), parents: layout.parentsOf(object.key), bytes: object.bytes, size: object.bytes.byteLength, replaceDamaged }));
      throwIfAborted(putOptions.signal);
      if (items.length === 0) return [];
      const where = await layout.where();
      // Slices go to different workers, so their fsyncs overlap.
      const slices: (typeof items)[] = [];
      for (let i = 0; i < items.length; i += PUBLISH_SLICE) slices.push(items.slice(i, i + PUBLISH_SLICE));
      throwIfAborted(putOptions.signal);
      const results = (await Promise.all(slices.map((slice) => publishItems(where, slice)))).flat();
      return results.map((result, index) => {
        if (result.ok) return result.repaired === true ? { created: result.created, repaired: true } : { created: result.created };
        const key = items[index]?.key ?? '';
        throw publishError(result.failure, key, `store ${JSON.stringify(key)}`);
      });
    },

    async getObjects(objects: readonly GetObjectInput[], getOptions: SignalOptions = {}): Promise<Uint8Array[]> {
      validateGetObjects(objects, getOptions);
      if (objects.length === 0) return [];
      const { realRoot } = await layout.where();
      const slices: GetObjectInput[][] = [];
      let bytes = Number.POSITIVE_INFINITY;
      for (const object of objects) {
        const last = slices.at(-1);
        if (last === undefined || last.length >= READ_SLICE || bytes + object.expectedSize > READ_SLICE_BYTES) {
          slices.push([object]);
          bytes = object.expectedSize;
        } else {
          last.push(object);
          bytes += object.expectedSize;
        }
      }
      throwIfAborted(getOptions.signal);
      // Settled, then read in order: the first failure in input order wins, also over a later slice's worker failing sooner.
      const replies = await Promise.allSettled(slices.map((slice) => readItems(realRoot, slice.map((object) => ({ target: layout.objectPath(object.key), size: object.expectedSize })))));
      const results: Uint8Array[] = [];
      for (const [s, settled] of replies.entries()) {
        if (settled.status === 'rejected') throw settled.reason;
        const reply = settled.value;
        const slice = slices[s] as GetObjectInput[];
        for (const [i, result] of reply.results.entries()) {
          const { key, expectedSize } = slice[i] as GetObjectInput;
          if (!result.ok) throw await readError(result.failure, key);
          results.push(new Uint8Array(reply.bytes, result.offset, expectedSize));
        }
      }
      return results;
    },

    async get(key: string, getOptions: GetOptions = {}): Promise<AsyncIterable<Uint8Array>> {
      const path = layout.objectPath(key);
      validateRangeOptions(getOptions);
      const { signal } = getOptions;
      throwIfAborted(signal);
      const action = `read ${JSON.stringify(key)}`;
      let handle: FileHandle;
      try {
        handle = await open(path, READ_FLAGS);
      } catch (error) {
        if (hasErrno(error, 'ENOENT', 'ENOTDIR')) throw await absent(error, key);
        throw translateFsError(error, action);
      }
      try {
        await layout.assertInsideRoot(dirname(path));
        const info = await handle.stat();
        if (info.isDirectory()) throw await absent(undefined, key);
        if (!info.isFile()) throw new StorageError('integrity', `local storage: ${JSON.stringify(key)} is a special file`);
        const { start, end } = resolveRange(info.size, getOptions, JSON.stringify(key));
        if (start === end) {
          await handle.close();
          return emptyStream();
        }
        if (getOptions.reuseBuffers === true) return readReusing(handle, start, end, action, signal);
        // `end` of createReadStream is inclusive. The stream closes the handle when it ends or is destroyed.
        const stream = handle.createReadStream({ start, end: end - 1, highWaterMark: READ_CHUNK_BYTES, ...(signal === undefined ? {} : { signal }) });
        return relay(stream, end - start, action);
      } catch (error) {
        await handle.close().catch(() => undefined);
        throw translateFsError(error, action);
      }
    },

    async head(key: string, headOptions: SignalOptions = {}): Promise<StorageObjectInfo | undefined> {
      const path = layout.objectPath(key);
      throwIfAborted(headOptions.signal);
      let info: Stats;
      try {
        // Check the parent first: lstat would follow a symlinked directory above the object.
        await layout.assertInsideRoot(dirname(path));
        info = await lstat(path);
      } catch (error) {
        if (!hasErrno(error, 'ENOENT', 'ENOTDIR')) throw translateFsError(error, `inspect ${JSON.stringify(key)}`);
        await layout.requireRoot();
        return undefined;
      }
      if (info.isDirectory()) return undefined;
      if (!info.isFile()) throw new StorageError('integrity', `local storage: ${JSON.stringify(key)} is a symbolic link or special file`);
      return { size: info.size };
    },

    async delete(key: string, deleteOptions: SignalOptions = {}): Promise<void> {
      const path = layout.objectPath(key);
      throwIfAborted(deleteOptions.signal);
      const action = `delete ${JSON.stringify(key)}`;
      try {
        await layout.assertInsideRoot(dirname(path));
        // unlink never follows a final symlink: a planted link is removed, its target left alone.
        await unlink(path);
      } catch (error) {
        if (hasErrno(error, 'ENOENT', 'ENOTDIR')) {
          await layout.requireRoot();
          // Absent: perhaps another delete's unlink, not yet durable; make it so before answering.
          await syncNearestDirectory(layout.root, dirname(path)).catch((failure: unknown) => {
            throw translateFsError(failure, action);
          });
          return;
        }
        // unlink(2) of a directory (EISDIR on Linux): the key is only a prefix, so there is no object to delete.
        if (hasErrno(error, 'EISDIR')) return;
        throw translateFsError(error, action);
      }
      // Empty fan-out directories would otherwise pile up as the garbage collector deletes. Then the
      // deepest directory left is synced: the removals are durable when the delete resolves (a deleted
      // object that a power loss brought back would be stored with nothing to delete it again).
      const survivor = await layout.pruneParents(path);
      try {
        await syncPath(survivor);
      } catch (error) {
        throw translateFsError(error, action);
      }
    },

    list(prefix: string, listOptions: SignalOptions = {}): AsyncIterable<string> {
      return listKeys(layout, prefix, listOptions.signal);
    },

    async health(healthOptions: SignalOptions = {}): Promise<StorageHealth> {
      throwIfAborted(healthOptions.signal);
      try {
        await layout.requireRoot();
      } catch (error) {
        return { ok: false, detail: StorageError.from(error).message };
      }
      try {
        await access(layout.root, constants.R_OK | constants.W_OK | constants.X_OK);
      } catch {
        return { ok: false, detail: 'local storage: root directory is not readable and writable' };
      }
      try {
        const fs = await statfs(layout.root);
        const capacity = { totalBytes: fs.blocks * fs.bsize, freeBytes: fs.bavail * fs.bsize };
        return { ok: true, detail: 'local storage: root directory is readable and writable', capacity };
      } catch {
        return { ok: false, detail: 'local storage: cannot measure filesystem capacity' };
      }
    },
  };
}

/**
 * Fsyncs the deepest existing directory from `directory` up to `root`: a delete that found its object
 * gone makes the removal durable all the same (it may be another delete's, not yet synced).
 */
async function syncNearestDirectory(root: string, directory: string): Promise<void> {
  for (let current = directory; ; current = dirname(current)) {
    try {
      await syncPath(current);
      return;
    } catch (error) {
      if (!hasErrno(error, 'ENOENT', 'ENOTDIR') || current.length <= root.length) throw error;
    }
  }
}

async function* listKeys(layout: LocalLayout, prefix: string, signal: AbortSignal | undefined): AsyncGenerator<string> {
  const start = prefix === '' ? layout.root : layout.objectPath(prefix);
  throwIfAborted(signal);
  await layout.requireRoot();
  try {
    // A symlinked prefix directory would make the walk list a tree outside the root.
    await layout.assertInsideRoot(start);
  } catch (error) {
    if (hasErrno(error, 'ENOENT', 'ENOTDIR')) return;
    throw translateFsError(error, `list ${JSON.stringify(prefix)}`);
  }
  yield* walk(start, prefix, signal);
}

async function* walk(directory: string, keyPrefix: string, signal: AbortSignal | undefined): AsyncGenerator<string> {
  let entries: Dirent[];
  try {
    entries = await readdir(directory, { withFileTypes: true });
  } catch (error) {
    // Pruned by a concurrent delete, or the prefix names an object rather than a directory.
    if (hasErrno(error, 'ENOENT', 'ENOTDIR')) return;
    throw translateFsError(error, `list ${JSON.stringify(keyPrefix)}`);
  }
  for (const entry of entries) {
    throwIfAborted(signal);
    // `.staging`, `lost+found`, editor litter: not keys, so not listed.
    if (!isValidKeySegment(entry.name)) continue;
    const key = keyPrefix === '' ? entry.name : `${keyPrefix}/${entry.name}`;
    if (key.length > MAX_KEY_LENGTH) continue;
    if (entry.isFile()) yield key;
    else if (entry.isDirectory()) yield* walk(join(directory, entry.name), key, signal);
    // Symlinks and special files are not objects this backend wrote; skipping them keeps the walk inside the root.
  }
}

/** Relays a file stream, translating its errors and checking it delivered every byte of the range. */
async function* relay(stream: Readable, expected: number, action: string): AsyncGenerator<Uint8Array> {
  let received = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      received += chunk.byteLength;
      yield chunk;
    }
  } catch (error) {
    throw translateFsError(error, action);
  } finally {
    stream.destroy();
  }
  // Objects are immutable; a short read means the file was truncated underneath us.
  if (received !== expected) throw new StorageError('integrity', `local storage: ${action}: object is shorter than its recorded size`);
}

/**
 * Reads `[start, end)` of an open object into two reused buffers, one read ahead of the caller: while the
 * caller holds one buffer's chunk, the next chunk is read into the other. Closes the handle at the end,
 * on error and when the caller leaves early.
 */
async function* readReusing(handle: FileHandle, start: number, end: number, action: string, signal: AbortSignal | undefined): AsyncGenerator<Uint8Array> {
  const buffers = [Buffer.allocUnsafeSlow(Math.min(REUSED_READ_BYTES, end - start)), Buffer.allocUnsafeSlow(Math.min(REUSED_READ_BYTES, Math.max(0, end - start - REUSED_READ_BYTES)))];
  let position = start;
  let turn = 0;
  const readNext = (): { promise: Promise<number>; buffer: Buffer; wanted: number } => {
    const buffer = buffers[turn] as Buffer;
    turn ^= 1;
    const wanted = Math.min(buffer.byteLength, end - position);
    const promise = handle.read(buffer, 0, wanted, position).then(({ bytesRead }) => bytesRead);
    position += wanted;
    return { promise, buffer, wanted };
  };
  let pending = readNext();
  // A read in flight when the caller leaves must settle before the handle closes.
  let inFlight: Promise<unknown> = pending.promise.catch(() => undefined);
  try {
    for (;;) {
      throwIfAborted(signal);
      const bytesRead = await pending.promise;
      // Objects are immutable; a short read means the file was truncated underneath us.
      if (bytesRead !== pending.wanted) throw new StorageError('integrity', `local storage: ${action}: object is shorter than its recorded size`);
      const chunk = pending.buffer.subarray(0, bytesRead);
      if (position < end) {
        pending = readNext();
        inFlight = pending.promise.catch(() => undefined);
      } else {
        inFlight = Promise.resolve();
        yield chunk;
        return;
      }
      yield chunk;
    }
  } catch (error) {
    throw translateFsError(error, action);
  } finally {
    await inFlight;
    await handle.close().catch(() => undefined);
  }
}

// An async generator is the simplest empty AsyncIterable.
async function* emptyStream(): AsyncGenerator<Uint8Array> {}
