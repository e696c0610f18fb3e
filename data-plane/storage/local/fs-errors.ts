/**
 * Translation of Node filesystem errors into StorageError. Errno names stop here: nothing outside
 * `data-plane/storage/local/` sees `ENOENT` and friends, only the codes of `../errors.ts`.
 */
import { errnoCode, hasErrno } from '../../../core/errors/errno.ts';
import { StorageError, type StorageErrorCode } from '../errors.ts';

export { errnoCode, hasErrno };

// Errno → storage code. Anything unlisted is `internal`: an unmapped errno is a gap in this table,
// and `internal` makes it show up in logs instead of being retried forever as `unavailable`.
const ERRNO_CODES: Readonly<Record<string, StorageErrorCode>> = {
  ENOENT: 'not-found',
  ENOTDIR: 'not-found',
  ENOSPC: 'resource-exhausted',
  EDQUOT: 'resource-exhausted',
  EFBIG: 'resource-exhausted',
  EACCES: 'unavailable',
  EPERM: 'unavailable',
  EROFS: 'unavailable',
  EIO: 'unavailable',
  EMFILE: 'unavailable',
  ENFILE: 'unavailable',
  EBUSY: 'unavailable',
  EAGAIN: 'unavailable',
  ESTALE: 'unavailable',
  ENXIO: 'unavailable',
  EXDEV: 'unavailable',
  ENOTSUP: 'unavailable',
  ELOOP: 'integrity',
};

const REASONS: Readonly<Record<StorageErrorCode, string>> = {
  'not-found': 'no such object',
  'invalid-key': 'invalid key',
  'invalid-range': 'invalid range',
  integrity: 'unexpected entry in the store (symbolic link or other non-regular file)',
  unavailable: 'filesystem unavailable (permission or I/O error)',
  'resource-exhausted': 'filesystem full or quota exceeded',
  aborted: 'aborted',
  'failed-precondition': 'not allowed in the current state',
  internal: 'unexpected filesystem error',
};

/**
 * Wraps `error` (thrown while doing `action`, e.g. `read "blake3/ab/…"`) into a StorageError.
 * StorageErrors pass through, abort errors become `aborted`. The message names the action and a generic
 * reason but never the absolute path: messages may reach clients, the native error stays in `cause`.
 */
export function translateFsError(error: unknown, action: string): StorageError {
  if (error instanceof StorageError) return error;
  const errno = errnoCode(error);
  const mapped = errno === undefined ? undefined : ERRNO_CODES[errno];
  // Streams destroyed through their `signal` reject with an AbortError (code ABORT_ERR, not an errno).
  const code = mapped ?? (StorageError.from(error).code === 'aborted' ? 'aborted' : 'internal');
  return new StorageError(code, `local storage: ${action}: ${REASONS[code]}`, { cause: error });
}

/**
 * The StorageError for a system error a worker thread reported by its errno name and syscall (a worker
 * sends plain data, not the error): the same translation as for the error itself.
 */
export function translateReportedFsError(reported: { readonly errno?: string | undefined; readonly syscall?: string | undefined; readonly message: string }, action: string): StorageError {
  // Rebuild the shape translateFsError reads (errno name in `code`); the message never carries the path.
  return translateFsError(Object.assign(new Error(reported.message), { code: reported.errno, syscall: reported.syscall }), action);
}
