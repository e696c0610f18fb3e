/**
 * The local backend's StorageWriter: bytes go to `<root>/.staging/<uuid>`, commit hard-links that file to
 * `<root>/<key>` and removes the staging name.
 *
 * Why link and not rename: rename(2) silently replaces an existing target, so two concurrent commits of
 * the same key could not tell who stored it, and an existing object would be swapped under its readers.
 * link(2) fails with EEXIST instead, which is exactly "already there": success with `created: false`.
 */
import type { Stats } from 'node:fs';
import { link, lstat, open, unlink, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { CommitResult, SignalOptions, StorageWriter } from '../backend.ts';
import { abortedError, StorageError, throwIfAborted } from '../errors.ts';
import { hasErrno, translateFsError } from './fs-errors.ts';
import type { LocalLayout } from './local-layout.ts';

// A commit walks the parent directories, then links. A concurrent delete may prune a directory in
// between; each retry re-creates it. Losing this race eight times in a row means something else is wrong.
const MAX_COMMIT_ATTEMPTS = 8;

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
        throwIfAborted(options.signal);
        // Data must be on disk before any name for it is: otherwise a crash right after the link could
        // leave a durable directory entry pointing at a file of zeros.
        await handle.sync();
        created = await this.#publish(key, target, options.signal);
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

  /** Links the staged file to `target`; true when this call created it, false when it already existed. */
  async #publish(key: string, target: string, signal: AbortSignal | undefined): Promise<boolean> {
    let lastError: unknown;
    for (let attempt = 1; attempt <= MAX_COMMIT_ATTEMPTS; attempt++) {
      let createdDirectories: string[];
      try {
        createdDirectories = await this.#layout.ensureParents(key);
        await this.#layout.assertInsideRoot(dirname(target));
        // Last moment an abort can stop the commit: after the link the object is visible.
        throwIfAborted(signal);
        throwIfAborted(this.#signal);
        await link(this.#stagedPath, target);
      } catch (error) {
        if (hasErrno(error, 'EEXIST')) {
          if (await this.#isExistingObject(key, target)) return false;
        } else if (!hasErrno(error, 'ENOENT', 'ENOTDIR')) {
          throw error;
        }
        lastError = error;
        continue;
      }
      // Make the new names durable: the object's entry, and every directory created on the way.
      const directories = new Set([dirname(target), ...createdDirectories.map((directory) => dirname(directory))]);
      for (const directory of directories) await syncDirectory(directory);
      return true;
    }
    // Not `not-found`: nothing the caller asked for is missing; the tree keeps changing under us (or
    // someone removed the staged file).
    throw new StorageError('unavailable', `local storage: commit ${JSON.stringify(key)}: directories kept vanishing`, { cause: lastError });
  }

  /**
   * Decides what an EEXIST from link means: true for an object (already stored), false when the entry
   * vanished again (a concurrent delete; retry). A directory means `key` nests with stored keys, and
   * anything else (a symlink, a FIFO) is not an object this backend wrote.
   */
  async #isExistingObject(key: string, target: string): Promise<boolean> {
    let info: Stats;
    try {
      info = await lstat(target);
    } catch (error) {
      if (hasErrno(error, 'ENOENT')) return false;
      throw error;
    }
    if (info.isFile()) return true;
    if (info.isDirectory()) throw new StorageError('invalid-key', `storage key ${JSON.stringify(key)} is a prefix of stored keys`);
    throw new StorageError('integrity', `local storage: ${JSON.stringify(key)} is a symbolic link or special file`);
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

async function syncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
