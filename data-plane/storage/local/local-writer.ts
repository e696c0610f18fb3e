/**
 * The local backend's StorageWriter: bytes go to `<root>/.staging/<uuid>`, commit hard-links that file to
 * `<root>/<key>` and removes the staging name.
 *
 * Why link and not rename: rename(2) silently replaces an existing target, so two concurrent commits of
 * the same key could not tell who stored it, and an existing object would be swapped under its readers.
 * link(2) fails with EEXIST instead, which is exactly "already there": success with `created: false`.
 * The commit itself (sync, parent directories, link, directory syncs) runs in a publish worker
 * (`publish-worker.js`), the same code that stores `putObjects` batches.
 */
import { unlink, type FileHandle } from 'node:fs/promises';
import type { CommitResult, SignalOptions, StorageWriter } from '../backend.ts';
import { abortedError, StorageError, throwIfAborted } from '../errors.ts';
import { hasErrno, translateFsError } from './fs-errors.ts';
import { publishError, publishItems } from './publish-pool.ts';
import type { LocalLayout } from './local-layout.ts';

type WriterState =
  | { readonly kind: 'open'; readonly handle: FileHandle }
  | { readonly kind: 'committed' }
  | { readonly kind: 'cancelled' }
  | { readonly kind: 'failed'; readonly error: StorageError };

/** Creates a writer staging into a new file under `layout`'s staging directory. */
export async function createLocalWriter(layout: LocalLayout, options: SignalOptions = {}): Promise<StorageWriter> {
  const { signal } = options;
  throwIfAborted(signal);
  const staged = await layout.createStagedFile();
  if (signal?.aborted === true) {
    // Fired while the file was being created: the caller never gets a writer, so clean up here.
    await staged.handle.close().catch(() => undefined);
    await unlink(staged.path).catch(() => undefined);
    throw abortedError(signal);
  }
  return new LocalWriter(layout, staged.path, staged.handle, signal);
}

class LocalWriter implements StorageWriter {
  readonly #layout: LocalLayout;
  readonly #stagedPath: string;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort: () => void;
  #state: WriterState;
  #size = 0;
  // Every operation runs after the previous one settles, so an abort arriving mid-write cannot close
  // the file under the write, and `cancel` in a `finally` waits for an in-flight commit.
  #queue: Promise<unknown> = Promise.resolve();

  constructor(layout: LocalLayout, stagedPath: string, handle: FileHandle, signal: AbortSignal | undefined) {
    this.#layout = layout;
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
    return this.#serialize(async () => {
      const handle = this.#requireOpen();
      let written = 0;
      try {
        // A positional-less write may be short; loop until the kernel has taken the whole chunk.
        while (written < chunk.byteLength) {
          const { bytesWritten } = await handle.write(chunk, written, chunk.byteLength - written);
          written += bytesWritten;
        }
      } catch (error) {
        throw await this.#fail(translateFsError(error, 'write staged bytes'));
      }
      this.#size += written;
    });
  }

  async commit(key: string, options: SignalOptions = {}): Promise<CommitResult> {
    // Validated before queueing and before any state change: a malformed key leaves the writer open.
    const target = this.#layout.objectPath(key);
    return this.#serialize(async () => {
      const handle = this.#requireOpen();
      let created: boolean;
      try {
        // Last moment an abort can stop the commit: once the worker has it, the object becomes visible.
        throwIfAborted(options.signal);
        throwIfAborted(this.#signal);
        // The worker syncs the data before it links (a durable name must never point at unsynced bytes),
        // then syncs the new directory entries (publish-worker.js).
        const [result] = await publishItems(await this.#layout.where(), [{ key, target, parents: this.#layout.parentsOf(key), stagedPath: this.#stagedPath }]);
        if (result === undefined) throw new StorageError('internal', 'local storage: publish worker returned no result');
        if (!result.ok) throw publishError(result.failure, key, `commit ${JSON.stringify(key)}`);
        created = result.created;
      } catch (error) {
        const failure = translateFsError(error, `commit ${JSON.stringify(key)}`);
        // A key nesting with a stored key is found only now, but nothing was published: stay open.
        if (failure.code === 'invalid-key') throw failure;
        throw await this.#fail(failure);
      }
      this.#state = { kind: 'committed' };
      this.#detach();
      // The object is committed; a staging name we fail to remove is litter, not a failed commit.
      await this.#discard(handle).catch(() => undefined);
      return { created };
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
    await handle.close().catch(() => undefined);
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

  #serialize<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.#queue.then(operation);
    this.#queue = result.catch(() => undefined);
    return result;
  }
}
