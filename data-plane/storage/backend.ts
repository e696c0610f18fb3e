/**
 * The storage SPI: the one seam between the data plane and a medium (local filesystem, memory, later
 * object stores). Every behaviour a caller may rely on is written here; `test/storage/backend.contract.ts`
 * checks each backend against it. Anything not written here is unspecified.
 *
 * Rules common to every method:
 * - Keys are validated with `validateKey` (see `keys.ts`) before anything else; a malformed key
 *   rejects with `invalid-key` and touches nothing.
 * - Every failure is a `StorageError` with a code from the closed set in `errors.ts`; no native error
 *   (`ENOENT`, S3 error names) crosses this interface.
 * - Every method takes an optional `AbortSignal`. A signal that has already fired rejects the call with
 *   `aborted` before any effect. Errors surface as promise rejections (or, for `list`, from iteration),
 *   never as synchronous throws.
 * - Objects are immutable: a key, once committed, names the same bytes until it is deleted. The
 *   backend does not hash; callers (the blob writer) verify digests before they commit to a content key.
 */
import type { RangeOptions } from './range.ts';

/** Options carried by every call: cancellation. */
export interface SignalOptions {
  /** Cancels the call; a fired signal rejects it with `aborted`. */
  readonly signal?: AbortSignal;
}

/** Options of `StorageBackend.get`. */
export interface GetOptions extends RangeOptions, SignalOptions {
  /**
   * Lets the backend hand out chunks in buffers it reuses: a chunk is then valid only until the caller
   * asks for the next one (or leaves the loop), and the caller must not modify it. For callers that pass
   * each chunk on and wait until it has been consumed (a socket write's callback) before asking for the
   * next: a long read then needs no fresh memory per chunk. Backends may ignore it.
   */
  readonly reuseBuffers?: boolean;
}

/** What `head` knows about a stored object. */
export interface StorageObjectInfo {
  /** Size in bytes. */
  readonly size: number;
}

/** Options of `StorageWriter.commit` and `StorageBackend.putObjects`. */
export interface CommitOptions extends SignalOptions {
  /**
   * What to do with an object of another size already stored under the key. A content key names its
   * bytes, so such an object is a damaged copy (truncated, say). By default the commit refuses with
   * `integrity` and the caller's bytes are not stored. With `replaceDamaged` the caller vouches that
   * its bytes are the key's (it verified their digest), and they replace the damaged copy atomically:
   * readers see the damaged copy or the whole new one. The commit then resolves with
   * `{ created: false, repaired: true }`. An object of the same size is never replaced, whatever its
   * bytes: the backend does not compare bytes (`artifactstore storage verify` does).
   * Only for content keys: upload parts and their declared size rely on the refusal.
   */
  readonly replaceDamaged?: boolean;
}

/** Result of `StorageWriter.commit`. */
export interface CommitResult {
  /** True when this commit stored the object; false when an object already existed under the key. */
  readonly created: boolean;
  /** True when the object already stored was damaged (another size) and this commit replaced it. */
  readonly repaired?: true;
}

/** One object of `StorageBackend.putObjects`. */
export interface PutObjectInput {
  readonly key: string;
  /** The whole object; the backend does not keep a reference after the call settles. */
  readonly bytes: Uint8Array;
}

/** One object of `StorageBackend.getObjects`. */
export interface GetObjectInput {
  readonly key: string;
  /** The size recorded for the object: a stored object of another size is a damaged copy (`integrity`). */
  readonly expectedSize: number;
}

/** Capacity of the medium behind a backend, when it can tell. */
export interface StorageCapacity {
  /** Total size of the medium in bytes. */
  readonly totalBytes: number;
  /** Bytes still available to this process. */
  readonly freeBytes: number;
}

/** Result of `StorageBackend.health`. */
export interface StorageHealth {
  /** True when reads and writes are expected to succeed. */
  readonly ok: boolean;
  /** One line saying what was checked or what is wrong; safe to log, holds no secrets or absolute paths. */
  readonly detail: string;
  /** Capacity of the medium; absent when the backend cannot measure it. */
  readonly capacity?: StorageCapacity;
}

/**
 * A staged write: bytes go to a private staging area and become visible under a key only when
 * `commit` returns. Obtain one from `StorageBackend.createWriter` and always finish it in a `finally`:
 *
 *     const writer = await backend.createWriter({ signal });
 *     try {
 *       for await (const chunk of source) await writer.write(chunk);
 *       await writer.commit(key, { signal });
 *     } finally {
 *       await writer.cancel(); // no-op after a successful commit
 *     }
 *
 * Calls on one writer are applied in call order; callers should still await each before the next.
 * The signal given to `createWriter` covers the writer's whole life: when it fires before `commit` has
 * made the object visible, the writer fails with `aborted` and its staged bytes are removed without
 * waiting for another call (after any call in flight, and before any later call on the writer settles).
 *
 * Errors stick: once `write` or `commit` has failed (other than with `invalid-key`, see `commit`),
 * the staged bytes are gone and every later `write` and `commit` rejects with that same error object.
 */
export interface StorageWriter {
  /** Bytes accepted by `write` so far. */
  readonly size: number;

  /**
   * Appends `chunk` to the staged bytes. The backend does not keep a reference to `chunk` after the
   * returned promise settles, but the caller must not modify it before then. An empty chunk is a no-op.
   * A caller may write again before the previous write settles (ingest does, to keep several blocks
   * moving): writes are applied in call order, and `commit` and `cancel` wait for the writes made before
   * them. A failure may then surface on a later call than the write that caused it (the local writer
   * starts the next write while one lands); `commit` always rejects after any failed write.
   * Rejects with `failed-precondition` after commit or cancel, with the sticky error after a failure,
   * with `resource-exhausted` when the medium is full and `unavailable` on I/O errors (both sticky).
   */
  write(chunk: Uint8Array): Promise<void>;

  /**
   * Makes the staged bytes visible under `key`, durably (on a filesystem: data and directory entries
   * are synced before this resolves). Visibility is atomic: readers see either no object or all of it,
   * no earlier than when `commit` is called and no later than when it resolves.
   *
   * If an object already exists under `key`, the staged bytes are discarded, the existing object is
   * left untouched (never replaced), and the commit succeeds with `created: false`; one of another size
   * is a damaged copy, refused with `integrity` unless `options.replaceDamaged` (see `CommitOptions`). Content-addressed
   * keys make this safe: same key, same bytes. Of several writers committing the same key concurrently,
   * all succeed and exactly one reports `created: true`.
   *
   * Rejects with `invalid-key` when `key` is malformed or nests with a stored key (is a path prefix of
   * one, or has one as a path prefix) on a backend that cannot hold both; the writer then stays open so
   * the caller may commit under another key or cancel. Any other rejection is final: the staged bytes
   * are removed and the error sticks; the object may then be visible or not (e.g. when making it
   * durable failed after it was linked), and a retry with a new writer settles it.
   * `failed-precondition` after a previous commit or a cancel.
   * `options.signal` is honoured until the object becomes visible; after that the commit completes.
   */
  commit(key: string, options?: CommitOptions): Promise<CommitResult>;

  /**
   * Discards the staged bytes and leaves nothing behind. Safe to call any number of times, and after a
   * commit or a failure (then a no-op), so it can sit in a `finally`. Rejects (with `unavailable`) only
   * when staged bytes exist and could not be removed. A writer that is neither committed nor cancelled
   * keeps its staged bytes until the process ends; the backend does not sweep them by itself.
   */
  cancel(): Promise<void>;
}

/**
 * A medium holding immutable objects under keys. Implementations are safe for concurrent use by any
 * number of callers in one process; a write becomes visible to every later call once `commit` resolves
 * (read-after-write consistency).
 */
export interface StorageBackend {
  /** Stable name of this backend instance (from configuration), for logs, metrics and health reports. */
  readonly id: string;

  /**
   * Starts a staged write; see `StorageWriter`. Rejects with `unavailable` when the medium cannot take
   * writes (e.g. the local root directory is missing; backends never create their root implicitly, so a
   * missing mount is reported instead of silently filling the wrong disk). Writers are independent: any
   * number may stage at once, including bytes meant for the same key.
   */
  createWriter(options?: SignalOptions): Promise<StorageWriter>;

  /**
   * Stores whole objects already in memory, each exactly as `createWriter` + `write` + `commit` would
   * (durable when this resolves, an existing object is never replaced but for a damaged copy under
   * `options.replaceDamaged`, `created` and `repaired` as for `commit`), and
   * resolves with one `CommitResult` per object, in order. For many small objects at once (a batch
   * upload's small files), where a writer per object costs more than the bytes.
   *
   * Every key is validated first: a malformed key rejects with `invalid-key` before anything is stored.
   * A key that appears twice is stored once: exactly one of its results says `created: true`. When any object
   * fails, the call rejects with that object's error (the first in input order); each of the others is
   * then stored entirely or not at all. A signal that has already fired rejects with `aborted` before any
   * effect; one firing later may stop objects not yet visible.
   */
  putObjects(objects: readonly PutObjectInput[], options?: CommitOptions): Promise<CommitResult[]>;

  /**
   * Streams the bytes of the object under `key`, or of `length` bytes from `offset` inside it.
   *
   * Order of checks: key (`invalid-key`), range shape (`invalid-range` for negative or non-integer
   * values), existence (`not-found`, also when `key` is only a path prefix of other keys), the size
   * against `expectedSize` when given (`integrity`), then the offset against the size: `offset > size`
   * rejects with `invalid-range`, `offset == size` yields nothing, and a `length` reaching past the end
   * is truncated at the end.
   *
   * The promise resolves once the object is known to exist; the bytes then arrive in chunks of at most
   * 1 MiB, never buffered whole. Chunks belong to the caller, who may modify them. The caller must iterate to the end or leave the loop early (`break`, `throw`),
   * which releases the underlying resources; an iterable that is never iterated may hold a file handle.
   * Errors while streaming reject the iteration: `aborted` when the signal fires, `integrity` when the
   * object turns out shorter than it was when the read started. Whether a read already started
   * survives a concurrent `delete` of the same key is unspecified.
   */
  get(key: string, options?: GetOptions): Promise<AsyncIterable<Uint8Array>>;

  /**
   * Reads whole objects into memory, each exactly as `get(key, { expectedSize })` would yield it, and
   * resolves with their bytes, in order, in buffers that belong to the caller. For many small objects at
   * once (an archive read's small files), where a stream per object costs more than the bytes; the
   * caller holds the sum of the expected sizes in memory at once.
   *
   * Every key and size is validated first: a malformed key rejects with `invalid-key`, a size that is
   * not a non-negative integer with `invalid-range`, before anything is read. When any object fails
   * (`not-found`, `integrity`, `unavailable`...), the call rejects with that object's error, the first in
   * input order. A key may appear more than once. A signal that has already fired rejects with `aborted`
   * before anything is read; one firing later may stop the reads not yet done.
   */
  getObjects(objects: readonly GetObjectInput[], options?: SignalOptions): Promise<Uint8Array[]>;

  /**
   * Describes the object under `key`, or resolves `undefined` when there is none (also when `key` is
   * only a path prefix of other keys). A missing object is an ordinary answer here, not an error, because
   * "is it already stored?" is the hot question of every upload. Rejects with `unavailable` when the
   * medium cannot answer (the absence of an object is never guessed from an unreachable medium).
   */
  head(key: string, options?: SignalOptions): Promise<StorageObjectInfo | undefined>;

  /**
   * Removes the object under `key`, durably: once this resolves, a power loss does not bring it back
   * (on a filesystem: the directory entry's removal is synced, also when the object was found gone
   * already, since that may be another delete's removal not yet synced). Idempotent: resolves whether
   * or not an object existed. A delete racing a commit of the same key may leave the object present or
   * absent; callers that care (the garbage collector) must order the two themselves.
   */
  delete(key: string, options?: SignalOptions): Promise<void>;

  /**
   * Yields every key strictly below `prefix`, i.e. starting with `prefix + '/'`; `''` yields every key.
   * A non-empty prefix must itself be a valid key (`invalid-key` otherwise). Staged writes are never
   * listed, nor is anything in the medium that is not a well-formed key. Order is unspecified; keys
   * committed or deleted while the listing runs may or may not appear. Errors, including `invalid-key`,
   * reject the iteration rather than the call.
   */
  list(prefix: string, options?: SignalOptions): AsyncIterable<string>;

  /**
   * Checks that the medium is usable (local: root exists, is a directory, is readable and writable)
   * and measures its capacity where possible. Problems are reported in the result, not thrown; the
   * call rejects only with `aborted`.
   */
  health(options?: SignalOptions): Promise<StorageHealth>;

  /**
   * Resolves once the work this backend goes on with after an operation answered has ended (the local
   * backend removes a duplicate's staged copy after its commit answered: freeing a 1 GiB file took
   * 170–240 ms that the upload no longer waits for). A data plane awaits it when it shuts down, and so
   * do tests before they look at a staging area. Never rejects.
   */
  settle(): Promise<void>;
}
