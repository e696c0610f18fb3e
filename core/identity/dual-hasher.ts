/**
 * Computes BLAKE3 and SHA-256 of one byte stream in pool workers, off the main thread.
 *
 * Data path: `update` copies the caller's bytes into SharedArrayBuffer slabs (`batchBytes` each), so the
 * caller may reuse its buffer as soon as `update` resolves and small chunks coalesce into few messages. A
 * full slab is sent to the workers, which read it in place; it returns to the free list when every worker
 * has acknowledged it. At most `windowBytes / batchBytes` slabs exist, so a producer faster than the
 * workers waits in `update` instead of queueing memory (backpressure).
 *
 * A chunk that is itself a view on a SharedArrayBuffer skips the slab: the workers read it in place and
 * `update` resolves when they are done with it (no copy on the calling thread; ingest fills shared blocks
 * for this, ADR 0013). The caller bounds how many such chunks are in flight; the window does not.
 *
 * Placement (ADR 0002): with two or more workers, SHA-256 and BLAKE3 run in separate sessions on different
 * workers, reading the same slab; SHA-256 is the bottleneck (~4× BLAKE3's cost), so this leaves its worker
 * doing nothing else. With one worker, a single session computes both.
 *
 * Streams no longer than `inlineBytes` are hashed on the calling thread at `digest`: for small blobs a worker
 * round trip costs more than the hashing, and it would queue behind other streams' batches.
 *
 * Integrity errors stick: after a worker failure, size mismatch or abort, every call rejects with that
 * same error object.
 */
import { createHash as createSha256 } from 'node:crypto';
import { Buffer } from 'node:buffer';
import { copyBytes } from '../bytes/copy-bytes.ts';
import { blake3OneShot } from './blake3-oneshot.ts';
import type { AlgorithmName } from './algorithms.ts';
import { createDeferred, type Deferred } from './deferred.ts';
import { Digest, type DualDigest } from './digest.ts';
import { HashError } from './hash-error.ts';
import { isShared, type HashPool, type HashSession, type SessionResult } from './hash-pool.ts';

/** Tuning for {@link createDualHasher}; the defaults are the measured choice (ADR 0002). */
export interface DualHasherOptions {
  /** Bytes per message to the workers (slab size). Default 4 MiB. */
  readonly batchBytes?: number;
  /** Upper bound on bytes copied but not yet hashed; rounded down to whole slabs, at least one. Default 8 MiB (two slabs). */
  readonly windowBytes?: number;
  /** Streams of at most this many bytes are hashed on the calling thread. Default 64 KiB; 0 disables. */
  readonly inlineBytes?: number;
}

/** The part of {@link HashPool} a dual hasher uses, so tests can pass a fake. */
export type HashSessionSource = Pick<HashPool, 'size' | 'open'>;

/** Incremental BLAKE3 + SHA-256 of one byte stream. */
export interface DualHasher {
  /**
   * Appends `chunk`. Resolves once the bytes are copied (the caller may then reuse `chunk`); waits while
   * the window is full. A view on a SharedArrayBuffer (larger than what is hashed inline) is not copied:
   * the workers read it in place, so the caller must not modify it before this resolves, which is when
   * they are done with it. Calls are applied in call order, even if the caller does not await each one.
   * Rejects with the sticky error after a failure, and with `invalid-state` after `digest`.
   */
  update(chunk: Uint8Array): Promise<void>;
  /** Hashes what remains and returns both digests. Calling it again returns the same promise. */
  digest(): Promise<DualDigest>;
  /**
   * Abandons the stream and frees its worker sessions and slabs; later calls reject with `aborted`
   * (`cause` = `reason`). Safe to call twice and after `digest`, where it does nothing, so it fits in a `finally`.
   */
  abort(reason?: unknown): void;
  /** Bytes accepted but not yet acknowledged by the workers; copied bytes never exceed the window (chunks read in place are the caller's to bound). */
  readonly bufferedBytes: number;
}

const MiB = 1024 * 1024;
// Measured on 2 cores with 512 MiB streams (ADR 0002): 4 MiB batches in an 8 MiB window (double buffering)
// gave 0.84x the in-process SHA-256 rate; 1 MiB / 16 MiB gave 0.75-0.78x (4x the messages), 4 MiB / 32 MiB
// 0.79x (a larger working set falls out of cache).
const DEFAULT_BATCH_BYTES = 4 * MiB;
const DEFAULT_WINDOW_BYTES = 8 * MiB;
/** Streams of at most this many bytes are hashed on the calling thread by default (`inlineBytes`). */
export const DEFAULT_INLINE_BYTES = 64 * 1024;
const RESOLVED: Promise<void> = Promise.resolve();

/** Creates a dual hasher whose sessions come from `pool` (opened on first need, i.e. not for inline streams). */
export function createDualHasher(pool: HashSessionSource, options: DualHasherOptions = {}): DualHasher {
  const batchBytes = options.batchBytes ?? DEFAULT_BATCH_BYTES;
  const windowBytes = options.windowBytes ?? DEFAULT_WINDOW_BYTES;
  const inlineBytes = Math.min(options.inlineBytes ?? DEFAULT_INLINE_BYTES, batchBytes);
  checkSize('batchBytes', batchBytes, 1);
  checkSize('windowBytes', windowBytes, 0);
  checkSize('inlineBytes', inlineBytes, 0);
  const maxSlabs = Math.max(1, Math.floor(windowBytes / batchBytes));

  let failure: HashError | undefined;
  let result: Promise<DualDigest> | undefined;
  let finished = false;
  let sessions: HashSession[] | undefined; // undefined while the stream may still be hashed inline
  let staging: Buffer | undefined;
  let current: Uint8Array | undefined; // slab being filled, once sessions exist
  let filled = 0; // bytes in `current`, or in `staging` before sessions exist
  let size = 0;
  let inFlight = 0;
  const free: Uint8Array[] = [];
  let allocated = 0;
  let slabWaiter: Deferred<void> | undefined;
  let tail: Promise<void> | undefined; // the last update still waiting for window space

  function fail(error: HashError): HashError {
    if (failure !== undefined) return failure;
    failure = error;
    slabWaiter?.reject(error);
    slabWaiter = undefined;
    for (const session of sessions ?? []) session.abort(error);
    // Drop slabs: a worker may still be reading them, so they must never be handed out again.
    free.length = 0;
    current = undefined;
    staging = undefined;
    return error;
  }

  /** Throws the sticky error, if any. A function because it is checked again after each await. */
  function throwIfFailed(): void {
    if (failure !== undefined) throw failure;
  }

  function takeSlab(): Uint8Array | undefined {
    const slab = free.pop();
    if (slab !== undefined) return slab;
    if (allocated >= maxSlabs) return undefined;
    allocated += 1;
    // A Buffer, so copyBytes fills it without making a view per chunk.
    return Buffer.from(new SharedArrayBuffer(batchBytes));
  }

  function openSessions(): HashSession[] {
    if (pool.size < 2) return [pool.open(['sha256', 'blake3'])];
    const sha256 = pool.open(['sha256']);
    try {
      return [sha256, pool.open(['blake3'], { apartFrom: [sha256] })];
    } catch (error) {
      sha256.abort(error); // do not leak the first session's worker state
      throw error;
    }
  }

  /** Leaves the inline phase: opens sessions and moves the staged bytes, if any, into the first slab. */
  function startStreaming(): HashSession[] {
    const opened = openSessions();
    sessions = opened;
    if (staging !== undefined && filled > 0) {
      const slab = takeSlab() as Uint8Array; // nothing is in flight yet, so a slab is always available
      copyBytes(slab, staging.subarray(0, filled));
      current = slab;
    }
    // No slab otherwise: a stream read in place may never need one (`fill` takes one on demand).
    staging = undefined;
    return opened;
  }

  function dispatch(): void {
    const slab = current as Uint8Array;
    const length = filled;
    current = undefined;
    filled = 0;
    inFlight += length;
    const view = length === slab.byteLength ? slab : slab.subarray(0, length);
    const writes = (sessions as HashSession[]).map((session) => session.write(view));
    Promise.all(writes).then(
      () => {
        inFlight -= length;
        if (failure !== undefined) return;
        free.push(slab);
        const waiter = slabWaiter;
        slabWaiter = undefined;
        waiter?.resolve();
      },
      (error: unknown) => fail(HashError.from(error)),
    );
  }

  /** Copies as much of `chunk[offset..]` as the window allows; returns the new offset. */
  function fill(chunk: Uint8Array, offset: number): number {
    while (offset < chunk.byteLength) {
      if (sessions === undefined) {
        const n = chunk.byteLength - offset;
        if (filled + n <= inlineBytes) {
          // Grown as needed (not `inlineBytes` up front): most inline streams are a few KiB.
          if (staging === undefined || filled + n > staging.byteLength) {
            const grown = Buffer.allocUnsafe(Math.min(inlineBytes, Math.max(filled + n, 2 * (staging?.byteLength ?? 0), 16 * 1024)));
            if (staging !== undefined) grown.set(staging.subarray(0, filled));
            staging = grown;
          }
          staging.set(chunk.subarray(offset), filled);
          filled += n;
          size += n;
          return chunk.byteLength;
        }
        startStreaming();
      }
      current ??= takeSlab();
      if (current === undefined) return offset;
      const n = Math.min(batchBytes - filled, chunk.byteLength - offset);
      copyBytes(current, chunk.subarray(offset, offset + n), filled);
      filled += n;
      offset += n;
      size += n;
      if (filled === batchBytes) dispatch();
    }
    return offset;
  }

  /** True when `chunk` goes to the workers in place: shared, and past what would be hashed inline. */
  function readsInPlace(chunk: Uint8Array): boolean {
    return isShared(chunk) && chunk.byteLength > 0 && (sessions !== undefined || filled + chunk.byteLength > inlineBytes);
  }

  /** Sends a shared `chunk` to every session as it is; resolves when all of them have read it. */
  function sendInPlace(chunk: Uint8Array): Promise<void> {
    const active = sessions ?? startStreaming();
    // Bytes gathered in a slab before this chunk go first, so the workers see the stream in order.
    if (filled > 0) dispatch();
    const length = chunk.byteLength;
    size += length;
    inFlight += length;
    return Promise.all(active.map((session) => session.write(chunk))).then(
      () => {
        inFlight -= length;
      },
      (error: unknown) => {
        throw fail(HashError.from(error));
      },
    );
  }

  function slabAvailable(): Promise<void> {
    if (free.length > 0 || allocated < maxSlabs) return RESOLVED;
    slabWaiter = createDeferred<void>();
    return slabWaiter.promise;
  }

  async function fillSlowly(chunk: Uint8Array, offset: number): Promise<void> {
    while (offset < chunk.byteLength) {
      await slabAvailable();
      throwIfFailed();
      try {
        offset = fill(chunk, offset);
      } catch (error) {
        throw fail(HashError.from(error));
      }
    }
  }

  async function finish(): Promise<DualDigest> {
    try {
      if (tail !== undefined) await tail;
      throwIfFailed();
      if (sessions === undefined && inlineBytes > 0) return digestInline(staging?.subarray(0, filled) ?? new Uint8Array(0));
      const active = sessions ?? startStreaming(); // inlining disabled: even an empty stream goes to the workers
      if (filled > 0) dispatch();
      const results = await Promise.all(active.map((session) => session.digest()));
      throwIfFailed();
      return combine(results);
    } catch (error) {
      throw fail(HashError.from(error));
    } finally {
      finished = true;
      free.length = 0;
    }
  }

  function combine(results: readonly SessionResult[]): DualDigest {
    const found = new Map<AlgorithmName, Digest>();
    for (const r of results) {
      if (r.size !== size) throw new HashError('integrity', `a hash session saw ${r.size} bytes, ${size} were written`);
      for (const [name, digest] of r.digests) found.set(name, digest);
    }
    const blake3Digest = found.get('blake3');
    const sha256Digest = found.get('sha256');
    if (blake3Digest === undefined || sha256Digest === undefined) throw new HashError('worker-failed', 'a hash session returned no digest');
    return { blake3: blake3Digest, sha256: sha256Digest, size };
  }

  return {
    get bufferedBytes() {
      return inFlight + (sessions === undefined ? 0 : filled);
    },
    update(chunk) {
      if (failure !== undefined) return Promise.reject(failure);
      if (result !== undefined) return Promise.reject(new HashError('invalid-state', 'update after digest'));
      let pending: Promise<void>;
      if (tail === undefined) {
        let offset: number;
        try {
          // Opening sessions can throw, e.g. pool-closed.
          if (readsInPlace(chunk)) return sendInPlace(chunk);
          offset = fill(chunk, 0);
        } catch (error) {
          return Promise.reject(fail(HashError.from(error)));
        }
        if (offset === chunk.byteLength) return RESOLVED;
        pending = fillSlowly(chunk, offset);
      } else {
        // An earlier update is waiting for window space; keep byte order by queueing behind it. If it
        // failed, this rejects with the same (sticky) error.
        pending = tail.then(() => {
          throwIfFailed();
          return readsInPlace(chunk) ? sendInPlace(chunk) : fillSlowly(chunk, 0);
        });
      }
      tail = pending;
      const clear = (): void => {
        if (tail === pending) tail = undefined;
      };
      pending.then(clear, clear);
      return pending;
    },
    digest() {
      if (result !== undefined) return result;
      if (failure !== undefined) return Promise.reject(failure);
      result = finish();
      return result;
    },
    abort(reason) {
      if (finished) return;
      fail(new HashError('aborted', 'hashing aborted', { cause: reason }));
    },
  };
}

/**
 * Both digests of `bytes`, computed on the calling thread: for streams too small to be worth a worker
 * round trip (at most `DEFAULT_INLINE_BYTES` by default), and for small objects held whole in memory.
 */
export function digestInline(bytes: Uint8Array): DualDigest {
  return {
    blake3: Digest.fromBytes('blake3', blake3OneShot(bytes)),
    sha256: Digest.fromBytes('sha256', createSha256('sha256').update(bytes).digest()),
    size: bytes.byteLength,
  };
}

function checkSize(key: keyof DualHasherOptions, value: number, min: number): void {
  if (!Number.isSafeInteger(value) || value < min) throw new RangeError(`dual hasher option "${key}" must be an integer ≥ ${min}, got ${String(value)}`);
}
