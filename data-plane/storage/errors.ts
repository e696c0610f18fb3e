/**
 * The one error type that crosses the storage SPI.
 *
 * Callers above the storage seam branch on `code`, never on messages or on a backend's native errors
 * (`ENOENT`, S3 error names): each backend translates its own failures inside its own folder and keeps
 * the original in `cause`, for logs only. The set of codes is closed so a mapping to transport codes
 * can be an exhaustive `Record<StorageErrorCode, …>` that fails to compile when a code is added.
 */
import { CodedError } from '../../core/errors/coded-error.ts';

/** Every storage error code, in no particular order. */
export const STORAGE_ERROR_CODES = [
  /** No object is stored under the key. */
  'not-found',
  /** The key is malformed (see `validateKey`) or cannot be used in this store (it nests with a stored key). */
  'invalid-key',
  /** A read range is malformed or starts past the end of the object. */
  'invalid-range',
  /** Stored bytes or the store's layout cannot be trusted: short object, unexpected symlink, path escaping the root. */
  'integrity',
  /** The medium cannot be used right now (missing root, permissions, I/O error); retrying later may help. */
  'unavailable',
  /** The medium is full or a quota is exceeded. */
  'resource-exhausted',
  /** The caller's AbortSignal fired. */
  'aborted',
  /** The call is not allowed in the object's current state, e.g. writing to a committed or cancelled writer. */
  'failed-precondition',
  /** A failure the backend did not anticipate; a bug or an unmapped native error. */
  'internal',
] as const;

/** Stable, machine-readable reason for a storage failure. */
export type StorageErrorCode = (typeof STORAGE_ERROR_CODES)[number];

/** Raised by every storage backend method; `cause` keeps the backend's native error for logs. */
export class StorageError extends CodedError<StorageErrorCode> {
  override readonly name = 'StorageError';

  /**
   * Wraps anything thrown into a StorageError: a StorageError passes through unchanged, a DOM-style
   * `AbortError` becomes `aborted`, anything else gets `fallback` with the original kept as `cause`.
   */
  static from(error: unknown, fallback: StorageErrorCode = 'internal'): StorageError {
    if (error instanceof StorageError) return error;
    if (isAbortError(error)) return new StorageError('aborted', 'storage operation aborted', { cause: error });
    const message = error instanceof Error ? error.message : String(error);
    return new StorageError(fallback, message, { cause: error });
  }
}

/** True when `error` is a StorageError, and when `code` is given, one with that code. */
export function isStorageError(error: unknown, code?: StorageErrorCode): error is StorageError {
  return error instanceof StorageError && (code === undefined || error.code === code);
}

/** Throws an `aborted` StorageError, keeping the signal's reason as cause, when `signal` has fired. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw abortedError(signal);
}

/** The `aborted` error for a fired signal. */
export function abortedError(signal: AbortSignal): StorageError {
  return new StorageError('aborted', 'storage operation aborted', { cause: signal.reason });
}

// Node streams and fetch reject with an Error named AbortError (code ABORT_ERR); match both spellings
// so a stream destroyed through its `signal` option maps to `aborted`, not `internal`.
function isAbortError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  return error.name === 'AbortError' || (error as { code?: unknown }).code === 'ABORT_ERR';
}
