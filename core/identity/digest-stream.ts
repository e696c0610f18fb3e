/**
 * One-pass BLAKE3 + SHA-256 of an async byte stream, hashed in worker threads (ADR 0002).
 */
import type { DualDigest } from './digest.ts';
import { createDualHasher, type DualHasherOptions } from './dual-hasher.ts';
import { HashError } from './hash-error.ts';
import { createHashPool, type HashPool } from './hash-pool.ts';

/** Options for {@link digestStream}. */
export interface DigestStreamOptions {
  /** Pool to hash on. Default: one process-wide pool, created on first use; its idle workers never keep the process alive. */
  readonly pool?: HashPool;
  /** Aborting rejects with HashError `aborted` (`cause` = the signal's reason), stops reading `source` and frees the workers' state. */
  readonly signal?: AbortSignal;
  /** Batch, window and inline thresholds; the defaults are the measured choice (ADR 0002). */
  readonly hasher?: DualHasherOptions;
}

let sharedPool: HashPool | undefined;

/** The process-wide pool used when no pool is passed; never closed, its workers are unref'd when idle. */
function defaultPool(): HashPool {
  sharedPool ??= createHashPool();
  return sharedPool;
}

/**
 * Reads `source` once and returns its BLAKE3 and SHA-256 digests and size. Chunks may be reused by the
 * source once the next one is requested. Errors from `source` are rethrown as they are; hashing failures
 * are HashErrors. On any failure or abort the source is closed (`return()`) without waiting for it.
 */
export async function digestStream(source: AsyncIterable<Uint8Array>, options: DigestStreamOptions = {}): Promise<DualDigest> {
  const { signal } = options;
  if (signal?.aborted === true) throw abortError(signal);
  const hasher = createDualHasher(options.pool ?? defaultPool(), options.hasher);
  const iterator = source[Symbol.asyncIterator]();
  let exhausted = false;

  // The source may never settle `next()` (a stalled socket), so the step in progress is raced against
  // the signal. One listener for the whole stream plus a slot for the current step's reject: adding and
  // removing a listener per chunk, or Promise.race against a long-lived promise, would cost per chunk.
  let rejectStep: ((reason: unknown) => void) | undefined;
  let aborted: HashError | undefined;
  const onAbort = (): void => {
    aborted = abortError(signal as AbortSignal);
    hasher.abort(aborted);
    rejectStep?.(aborted);
  };
  const step = <T>(promise: Promise<T>): Promise<T> => {
    if (signal === undefined) return promise;
    return new Promise<T>((resolve, reject) => {
      rejectStep = reject;
      promise.then(resolve, reject);
    });
  };

  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for (;;) {
      const next = await step(iterator.next());
      if (next.done === true) {
        exhausted = true;
        break;
      }
      await step(hasher.update(next.value));
    }
    return await step(hasher.digest());
  } catch (error) {
    hasher.abort(error);
    if (!exhausted) closeQuietly(iterator);
    throw aborted ?? error;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

function abortError(signal: AbortSignal): HashError {
  return new HashError('aborted', 'digestStream aborted', { cause: signal.reason });
}

/** Asks the source to clean up, without waiting: an async generator stuck in `await` only returns later. */
function closeQuietly(iterator: AsyncIterator<Uint8Array>): void {
  try {
    const closing = iterator.return?.();
    if (closing !== undefined) closing.then(undefined, () => undefined);
  } catch {
    // The source's cleanup failing must not replace the error being reported.
  }
}
