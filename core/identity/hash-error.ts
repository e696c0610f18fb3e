/**
 * The one error type of the hashing machinery (pool, dual hasher, digestStream), with a closed set of
 * codes so callers branch on `code`, never on message text.
 */
import { CodedError } from '../errors/coded-error.ts';

/**
 * Why hashing failed.
 * - `worker-failed`: a hash worker crashed, exited, or reported an error; every session it served fails.
 * - `pool-closed`: the pool was closed while the session was open, or a session was opened afterwards.
 * - `aborted`: the caller aborted (signal or `abort()`); `cause` holds the abort reason.
 * - `integrity`: the worker hashed a different number of bytes than were sent.
 * - `invalid-state`: a call that the object's state does not allow, e.g. `update` after `digest`.
 */
export type HashErrorCode = 'worker-failed' | 'pool-closed' | 'aborted' | 'integrity' | 'invalid-state';

/** Raised by every hashing API; the original failure, if any, is kept in `cause` for logs. */
export class HashError extends CodedError<HashErrorCode> {
  override readonly name = 'HashError';

  /** Returns `error` when it already is a HashError, otherwise wraps it as `worker-failed` with the original as `cause`. */
  static from(error: unknown): HashError {
    if (error instanceof HashError) return error;
    const detail = error instanceof Error ? error.message : String(error);
    return new HashError('worker-failed', `hashing failed: ${detail}`, { cause: error });
  }
}
