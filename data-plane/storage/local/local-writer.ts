/**
 * The local backend's StorageWriter: bytes go to `<root>/.staging/<uuid>`, commit hard-links that file to
 * `<root>/<key>` and removes the staging name.
 *
 * Why link and not rename: rename(2) silently replaces an existing target, so two concurrent commits of
 * the same key could not tell who stored it, and an existing object would be swapped under its readers.
 * link(2) fails with EEXIST instead, which is exactly "already there": success with `created: false`.
 * The one rename is a repair: with `replaceDamaged`, a stored object of another size is a damaged copy
 * and the synced staged file is renamed over it (`publish-worker.js`, ADR 0004 amendment).
 * The commit itself (sync, parent directories, link, directory syncs) runs in a publish worker
 * (`publish-worker.js`), the same code that stores `putObjects` batches.
 */
import { unlink, type FileHandle } from 'node:fs/promises';
import type { CommitOptions, CommitResult, SignalOptions, StorageWriter } from '../backend.ts';
import { abortedError, StorageError, throwIfAborted } from '../errors.ts';
import { hasErrno, translateFsError } from './fs-errors.ts';
import { BLOCK_BYTES, DIRECT_ALIGNMENT, HEAD_BYTES, isAlignedView, isPooledView, type AlignedBlock } from '../aligned-blocks.ts';
import { createOperationQueue, type OperationQueue } from '../operation-queue.ts';
import { copyBytes } from '../../../core/bytes/copy-bytes.ts';
import { GrowingBuffer } from '../../../core/bytes/growing-buffer.ts';
import { acquireWriterBlock, alignUp, openDirect } from './direct-io.ts';
import { publishError, publishItems } from './publish-pool.ts';
import type { BackgroundWork } from '../background-work.ts';
import type { LocalLayout } from './local-layout.ts';

/**
 * Sync behind: once this many bytes went to the file since the last sync started, the writer starts
 * `fdatasync` in the background while the stream goes on (one at a time), so the commit's `fsync` finds
 * little left to flush. On a disk with a volatile write cache that final flush took 0.3–0.7 s per GiB
 * after the last byte had arrived; see ADR 0017.
 */
export const SYNC_BEHIND_BYTES = 64 * 1024 * 1024;

/**
 * Syncs behind running at once in this process, across writers and backends. A sync holds one of
 * libuv's four pool threads for as long as the device flushes (up to ~0.3 s each with six concurrent
 * large uploads), and reads, opens and the direct writes of every other request queue behind those
 * threads (ADR 0011 moved the commits' fsyncs off them for that reason). One at a time keeps three free;
 * a writer that finds the slot taken tries again at its next write, and its commit covers the rest.
 */
const MAX_SYNCS_BEHIND = 1;
let syncsBehindRunning = 0;

/**
 * Writes in place one writer has in flight at most: a further one starts once the write this many before
 * it has settled. The block feed hands a writer up to 12 blocks while the disk stalls (ADR 0018), and
 * each write holds one of libuv's four pool threads: with no limit a stalled upload queued a dozen 2 MiB
 * writes ahead of every other request's opens and reads (a small download's p50 during a 1 GiB upload
 * went from 30 to 87 ms; 37 ms with this limit). Four keep the device as busy as more did.
 */
export const MAX_WRITES_IN_PLACE = 4;

/** Called after each sync behind with its duration in seconds (the data plane's metrics). */
export type SyncBehindObserver = (seconds: number) => void;

type WriterState =
  | { readonly kind: 'open'; readonly handle: FileHandle }
  | { readonly kind: 'committed' }
  | { readonly kind: 'cancelled' }
  | { readonly kind: 'failed'; readonly error: StorageError };

/** Creates a writer staging into a new file under `layout`'s staging directory. */
export async function createLocalWriter(layout: LocalLayout, background: BackgroundWork, options: SignalOptions = {}, onSyncBehind?: SyncBehindObserver): Promise<StorageWriter> {
  const { signal } = options;
  throwIfAborted(signal);
  const staged = await layout.createStagedFile();
  if (signal?.aborted === true) {
    // Fired while the file was being created: the caller never gets a writer, so clean up here.
    await staged.handle.close().catch(() => undefined);
    await unlink(staged.path).catch(() => undefined);
    throw abortedError(signal);
  }
  return new LocalWriter(layout, background, staged.path, staged.handle, signal, onSyncBehind);
}

class LocalWriter implements StorageWriter {
  readonly #layout: LocalLayout;
  readonly #background: BackgroundWork;
  readonly #stagedPath: string;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort: () => void;
  #state: WriterState;
  /** Bytes accepted by `write`. */
  #size = 0;
  /** Bytes in the file (the rest wait in the block). */
  #flushed = 0;
  /**
   * The object's first copied bytes, until they outgrow HEAD_BYTES: a small object never takes a pooled
   * block (see `core/bytes/growing-buffer.ts`) and is written buffered at commit.
   */
  readonly #head = new GrowingBuffer(HEAD_BYTES);
  /** Where accepted bytes gather for a direct write; null once the writer writes buffered only. */
  #block: AlignedBlock | null | undefined;
  #blockFilled = 0;
  /** The block of the direct write in flight (`#pending`), refilled once that write has landed. */
  #spare: AlignedBlock | null | undefined;
  /** The newest direct write in flight. */
  #pending: Promise<void> | undefined;
  /**
   * Every direct write in flight, each reading a block (two of the writer's own at most, and the caller's
   * writes in place), and the sync behind while it runs.
   */
  readonly #writes = new Set<Promise<void>>();
  /** The last `MAX_WRITES_IN_PLACE` writes in place, settled either way (never rejecting), oldest first. */
  readonly #inPlace: Promise<void>[] = [];
  /** The first failure of a write in place, surfaced by the next operation (`#startWriteInPlace`). */
  #writeFailure: StorageError | undefined;
  /** The `O_DIRECT` handle, opened by the first full block or write in place; null when refused or closed. */
  #direct: FileHandle | null | undefined;
  // Every operation runs after the previous one settles, so an abort arriving mid-write cannot close
  // the file under the write, and `cancel` in a `finally` waits for an in-flight commit.
  readonly #serialize: OperationQueue = createOperationQueue();
  /** `#flushed` when the last sync behind started (`SYNC_BEHIND_BYTES`). */
  #syncMark = 0;
  /** True while a sync behind runs. */
  #syncing = false;
  readonly #onSyncBehind: SyncBehindObserver | undefined;

  constructor(layout: LocalLayout, background: BackgroundWork, stagedPath: string, handle: FileHandle, signal: AbortSignal | undefined, onSyncBehind: SyncBehindObserver | undefined) {
    this.#layout = layout;
    this.#onSyncBehind = onSyncBehind;
    this.#background = background;
    this.#stagedPath = stagedPath;
    this.#signal = signal;
    this.#state = { kind: 'open', handle };
    this.#onAbort = () => {
      // Remove the staged bytes now rather than at the next call: the caller may never make one.
      if (signal !== undefined) void this.#serialize(() => this.#fail(abortedError(signal)));
    };
    signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  get size(): number {
    return this.#size;
  }

  write(chunk: Uint8Array): Promise<void> {
    let landing: Promise<void> | undefined;
    const queued = this.#serialize(async () => {
      const handle = this.#requireOpen();
      try {
        this.#throwIfWriteFailed();
        landing = (await this.#startWriteInPlace(chunk))?.landing;
        if (landing !== undefined) {
          this.#size += chunk.byteLength;
          return;
        }
        let offset = 0;
        if (this.#block === undefined && this.#flushed === 0 && this.#head.length === 0 && chunk.byteLength > HEAD_BYTES && chunk.byteLength < BLOCK_BYTES && isPooledView(chunk)) {
          // A first write from a pooled block that is not full: ingest's block feed hands a partial block
          // only at the end of a stream, so this is an object under one block. It is written buffered now,
          // as it would be at commit, instead of being copied into a block of the writer's own first (which
          // held a second block for the object's life); the writer stays buffered from here on.
          this.#block = null;
        }
        if (this.#block === undefined && this.#flushed === 0) {
          if (this.#head.tryAppend(chunk)) offset = chunk.byteLength;
          else await this.#leaveHead(handle);
        }
        while (offset < chunk.byteLength) {
          if (this.#block === undefined) this.#block = acquireWriterBlock() ?? null;
          if (this.#block === null) {
            // No block (all in use, or direct I/O refused here): straight to the file, buffered.
            await writeAll(handle, chunk.subarray(offset), this.#flushed);
            this.#flushed += chunk.byteLength - offset;
            this.#syncBehind(handle);
            break;
          }
          const n = Math.min(BLOCK_BYTES - this.#blockFilled, chunk.byteLength - offset);
          copyBytes(this.#block.bytes, chunk.subarray(offset, offset + n), this.#blockFilled);
          this.#blockFilled += n;
          offset += n;
          if (this.#blockFilled === BLOCK_BYTES) await this.#flushBlock(handle, false);
        }
      } catch (error) {
        throw await this.#fail(translateFsError(error, 'write staged bytes'));
      }
      this.#size += chunk.byteLength;
    });
    return queued.then(() => landing);
  }

  /**
   * Starts writing `chunk` to the file straight from the caller's memory, when it is an aligned view (a
   * block that ingest filled, see `../aligned-blocks.ts`), nothing waits in the writer's own block, the
   * file so far ends on an aligned offset, and the object is not a small one (a whole block, or bytes
   * after one): no copy. Returns the write (wrapped: an async function would wait for a promise it
   * returns), which `write` resolves with: the caller may reuse its block once it has landed. Undefined
   * when the chunk must take the copying path.
   *
   * The next operation does not wait for the write to land: a caller with several blocks keeps the device
   * busy while the main thread is (writes go to distinct offsets). At most `MAX_WRITES_IN_PLACE` are in
   * flight; a further one waits until the write that many before it has settled, and does not start
   * once a write has failed. A failed write sticks (the next operation rejects with it) and `commit`
   * waits for every write before it publishes anything.
   */
  async #startWriteInPlace(chunk: Uint8Array): Promise<{ readonly landing: Promise<void> } | undefined> {
    if (this.#blockFilled !== 0 || this.#head.length !== 0 || this.#flushed % DIRECT_ALIGNMENT !== 0 || !isAlignedView(chunk)) return undefined;
    // An object that fits in its first, partial block stays buffered (written at commit, as ADR 0012 has it).
    if (this.#flushed === 0 && chunk.byteLength < BLOCK_BYTES) return undefined;
    const direct = await this.#directHandle();
    if (direct === null) return undefined;
    const position = this.#flushed;
    const oldest = this.#inPlace.length >= MAX_WRITES_IN_PLACE ? this.#inPlace.shift() : undefined;
    const write =
      oldest === undefined
        ? writeAll(direct, chunk, position)
        : oldest.then(() => {
            this.#throwIfWriteFailed();
            return writeAll(direct, chunk, position);
          });
    const landing = this.#track(write).catch((error: unknown) => {
      const failure = translateFsError(error, 'write staged bytes');
      this.#writeFailure ??= failure;
      throw failure;
    });
    landing.catch(() => undefined); // surfaced through `write`'s promise and #writeFailure, never unhandled
    this.#inPlace.push(landing.catch(() => undefined));
    this.#flushed += chunk.byteLength;
    this.#syncBehind(direct);
    return { landing };
  }

  /**
   * The head outgrew HEAD_BYTES: its bytes start the first block, or go to the file (buffered) when the
   * pool has no block to spare or direct I/O is refused here.
   */
  async #leaveHead(handle: FileHandle): Promise<void> {
    const gathered = this.#head.view();
    this.#block = acquireWriterBlock() ?? null;
    if (this.#block === null) {
      await writeAll(handle, gathered, this.#flushed);
      this.#flushed += gathered.byteLength;
    } else {
      copyBytes(this.#block.bytes, gathered);
      this.#blockFilled = gathered.byteLength;
    }
    this.#head.clear();
  }

  /** The `O_DIRECT` handle, opened on first use; null when the platform or filesystem refuses it. */
  async #directHandle(): Promise<FileHandle | null> {
    if (this.#direct === undefined) this.#direct = (await openDirect(this.#stagedPath)) ?? null;
    return this.#direct;
  }

  /**
   * Starts a sync behind when `SYNC_BEHIND_BYTES` went to the file since the last one started and no sync
   * behind runs in the process (`MAX_SYNCS_BEHIND`). It covers the writes that landed before it; the
   * commit's `fsync` still covers everything. It is tracked like a write (`#track`): the handles close,
   * and the commit publishes, only after it settled. A failure sticks as a write's does: after a failed
   * sync the kernel may have dropped the bytes it could not write and report nothing to a later `fsync`,
   * so the object must never be committed.
   */
  #syncBehind(handle: FileHandle): void {
    if (this.#syncing || syncsBehindRunning >= MAX_SYNCS_BEHIND || this.#flushed - this.#syncMark < SYNC_BEHIND_BYTES) return;
    this.#syncing = true;
    syncsBehindRunning++;
    this.#syncMark = this.#flushed;
    const started = performance.now();
    const settled = (): void => {
      this.#syncing = false;
      syncsBehindRunning--;
    };
    this.#track(handle.datasync()).then(
      () => {
        settled();
        try {
          this.#onSyncBehind?.((performance.now() - started) / 1000);
        } catch {
          // A metric that cannot be recorded must not fail an upload (or go unhandled).
        }
      },
      (error: unknown) => {
        settled();
        this.#writeFailure ??= translateFsError(error, 'sync staged bytes');
      },
    );
  }

  /** Throws the failure of a write that landed badly while other operations went on. */
  #throwIfWriteFailed(): void {
    if (this.#writeFailure !== undefined) throw this.#writeFailure;
  }

  /**
   * Writes the block's bytes to the file: directly once a full block has been collected (the first one
   * opens the direct handle; a filesystem refusing it switches the writer to buffered writes), and
   * through the buffered handle for objects smaller than a block (from the head, for one that fit in it). A full block's direct write runs while
   * the next block fills (two blocks, when the pool has a spare); the last, partial block is padded to
   * the alignment and the file cut back to its size once every write has landed.
   */
  async #flushBlock(handle: FileHandle, final: boolean): Promise<void> {
    if (this.#head.length > 0) {
      // Only at commit, with no block taken: the whole object fit in the head.
      await writeAll(handle, this.#head.view(), this.#flushed);
      this.#flushed += this.#head.length;
      this.#head.clear();
    }
    const block = this.#block;
    const length = this.#blockFilled;
    if (block === undefined || block === null || length === 0) {
      await this.#pending;
      return;
    }
    // At commit, a writer that never opened the direct handle (its object never filled a block) writes
    // buffered (ADR 0012).
    if (!final) await this.#directHandle();
    if (this.#direct === undefined || this.#direct === null) {
      await writeAll(handle, block.bytes.subarray(0, length), this.#flushed);
      this.#flushed += length;
      if (!final) this.#syncBehind(handle);
      if (this.#direct === null) this.#releaseBlock(null);
      this.#blockFilled = 0;
      return;
    }
    const padded = alignUp(length);
    if (padded > length) block.bytes.fill(0, length, padded);
    const write = this.#track(writeAll(this.#direct, block.bytes.subarray(0, padded), this.#flushed));
    this.#flushed += length;
    this.#blockFilled = 0;
    if (!final) this.#syncBehind(this.#direct);
    const previous = this.#pending;
    this.#pending = write;
    if (!final) {
      if (this.#spare === undefined) this.#spare = acquireWriterBlock() ?? null;
      if (this.#spare !== null) {
        // The spare is the block of the previous write: it must have landed before it is refilled.
        await previous;
        this.#block = this.#spare;
        this.#spare = block;
        return;
      }
    }
    await previous;
    await write;
    this.#pending = undefined;
    if (padded > length) await this.#direct.truncate(this.#flushed);
  }

  /**
   * Registers a direct write that reads a block: handled at once (its failure surfaces where it is
   * awaited, never as an unhandled rejection), and waited for before any block goes back to the pool.
   */
  #track(write: Promise<void>): Promise<void> {
    this.#writes.add(write);
    const settled = (): void => {
      this.#writes.delete(write);
    };
    write.then(settled, settled);
    return write;
  }

  /** Gives the blocks back once no write reads them any more. */
  async #releaseBlocks(): Promise<void> {
    await Promise.allSettled([...this.#writes]);
    this.#pending = undefined;
    this.#head.clear();
    this.#releaseBlock(null);
    if (this.#spare !== undefined && this.#spare !== null) this.#spare.release();
    this.#spare = null;
  }

  #releaseBlock(next: null | undefined): void {
    if (this.#block !== undefined && this.#block !== null) this.#block.release();
    this.#block = next;
    this.#blockFilled = 0;
  }

  async commit(key: string, options: CommitOptions = {}): Promise<CommitResult> {
    // Validated before queueing and before any state change: a malformed key leaves the writer open.
    const target = this.#layout.objectPath(key);
    return this.#serialize(async () => {
      const handle = this.#requireOpen();
      let created: boolean;
      let repaired = false;
      try {
        await this.#flushBlock(handle, true);
        await this.#releaseBlocks(); // after every write has landed
        this.#throwIfWriteFailed();
        // Read-only before any name points at it (staged 0600 so the direct handle could open it).
        await handle.chmod(0o444);
        // Last moment an abort can stop the commit: once the worker has it, the object becomes visible.
        throwIfAborted(options.signal);
        throwIfAborted(this.#signal);
        // The worker syncs the data before it links (a durable name must never point at unsynced bytes),
        // then syncs the new directory entries (publish-worker.js).
        const [result] = await publishItems(await this.#layout.where(), [{ key, target, parents: this.#layout.parentsOf(key), stagedPath: this.#stagedPath, size: this.#size, replaceDamaged: options.replaceDamaged === true }]);
        if (result === undefined) throw new StorageError('internal', 'local storage: publish worker returned no result');
        if (!result.ok) throw publishError(result.failure, key, `commit ${JSON.stringify(key)}`);
        created = result.created;
        repaired = result.repaired === true;
      } catch (error) {
        const failure = translateFsError(error, `commit ${JSON.stringify(key)}`);
        // A key nesting with a stored key is found only now, but nothing was published: stay open.
        if (failure.code === 'invalid-key') throw failure;
        throw await this.#fail(failure);
      }
      this.#state = { kind: 'committed' };
      this.#detach();
      // The object is committed; a staging name we fail to remove is litter, not a failed commit. For a
      // new object the name is one of two links to the bytes, removed at once. A duplicate's is their
      // only link: removing it frees the whole file (170–240 ms per GiB on ext4 with `discard`), so that
      // runs after the commit answers, tracked by the backend (`settle`).
      if (created) {
        await this.#discard(handle).catch(() => undefined);
      } else {
        await this.#closeHandles(handle).catch(() => undefined);
        // A repair renamed the staged file over the damaged copy: its name is gone already.
        if (!repaired) this.#background.track(this.#removeStaged().catch(() => undefined));
      }
      return repaired ? { created, repaired: true } : { created };
    });
  }

  cancel(): Promise<void> {
    return this.#serialize(async () => {
      if (this.#state.kind !== 'open') return;
      const { handle } = this.#state;
      this.#state = { kind: 'cancelled' };
      this.#detach();
      try {
        await this.#discard(handle);
      } catch (error) {
        throw translateFsError(error, 'remove staged bytes');
      }
    });
  }

  async #fail(error: StorageError): Promise<StorageError> {
    if (this.#state.kind === 'failed') return this.#state.error;
    if (this.#state.kind !== 'open') return error;
    const { handle } = this.#state;
    this.#state = { kind: 'failed', error };
    this.#detach();
    // Best effort: the error being reported matters more than one about the cleanup.
    await this.#discard(handle).catch(() => undefined);
    return error;
  }

  async #discard(handle: FileHandle): Promise<void> {
    await this.#closeHandles(handle);
    await this.#removeStaged();
  }

  /** Gives back the pool's blocks and closes both handles of the staged file. */
  async #closeHandles(handle: FileHandle): Promise<void> {
    await this.#releaseBlocks();
    if (this.#direct !== undefined && this.#direct !== null) await this.#direct.close().catch(() => undefined);
    this.#direct = null;
    await handle.close().catch(() => undefined);
  }

  async #removeStaged(): Promise<void> {
    try {
      await unlink(this.#stagedPath);
    } catch (error) {
      if (!hasErrno(error, 'ENOENT')) throw error;
    }
  }

  #requireOpen(): FileHandle {
    switch (this.#state.kind) {
      case 'open':
        return this.#state.handle;
      case 'failed':
        throw this.#state.error;
      case 'committed':
        throw new StorageError('failed-precondition', 'storage writer is already committed');
      case 'cancelled':
        throw new StorageError('failed-precondition', 'storage writer was cancelled');
    }
  }

  #detach(): void {
    this.#signal?.removeEventListener('abort', this.#onAbort);
  }

}

/** Writes all of `bytes` at `position` (a positional write may be short: loop until the kernel took everything). */
async function writeAll(handle: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  for (let written = 0; written < bytes.byteLength; ) {
    const { bytesWritten } = await handle.write(bytes, written, bytes.byteLength - written, position + written);
    written += bytesWritten;
  }
}
