/**
 * Relative paths of files inside a package. A path names a file in the producer's directory and is
 * written into the manifest, so it is validated once, at the edge, and stored in one normal form:
 * Unicode NFC, `/`-separated, no empty, `.` or `..` segments, no leading or trailing slash, no
 * backslash, NUL or other control characters (C0, DEL, C1), no bidirectional controls, no drive letter,
 * at most 1024 UTF-8 bytes.
 */
import { CodedError } from '../errors/coded-error.ts';

/** Stable codes for relative path failures. */
export type RelativePathErrorCode = 'invalid-path';

/** Raised for a path that cannot name a file inside a package. */
export class RelativePathError extends CodedError<RelativePathErrorCode> {
  override readonly name = 'RelativePathError';
  constructor(message: string) {
    super('invalid-path', message);
  }
}

/** Longest accepted path, in UTF-8 bytes. */
export const MAX_RELATIVE_PATH_BYTES = 1024;

/**
 * Returns the normal (NFC) form of `path`, or throws RelativePathError naming the problem.
 * Two spellings that normalise to the same string name the same file.
 */
export function normalizeRelativePath(path: string): string {
  if (typeof path !== 'string' || path.length === 0) throw new RelativePathError('relative path is empty');
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused here.
  if (/[\u0000-\u001f\u007f-\u009f]/.test(path)) throw new RelativePathError('relative path contains a NUL or control character');
  // Bidirectional controls make a name display as another (`evil\u202Etxt.exe` shows as `evilexe.txt`).
  if (/[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/.test(path)) throw new RelativePathError('relative path contains a bidirectional control character (it would display as another name)');
  if (path.includes('\\')) throw new RelativePathError('relative path contains a backslash; use "/"');
  if (path.startsWith('/')) throw new RelativePathError('relative path must not be absolute');
  if (/^[A-Za-z]:/.test(path)) throw new RelativePathError('relative path must not start with a drive letter');
  if (path.endsWith('/')) throw new RelativePathError('relative path must name a file, not end with "/"');
  let normal: string;
  try {
    normal = path.normalize('NFC');
  } catch {
    throw new RelativePathError('relative path is not valid Unicode');
  }
  if (/[\ud800-\udfff]/u.test(normal.replace(/[\ud800-\udbff][\udc00-\udfff]/g, ''))) throw new RelativePathError('relative path contains an unpaired surrogate');
  for (const segment of normal.split('/')) {
    if (segment === '') throw new RelativePathError('relative path contains an empty segment ("//")');
    if (segment === '.' || segment === '..') throw new RelativePathError(`relative path contains a "${segment}" segment`);
  }
  if (Buffer.byteLength(normal, 'utf8') > MAX_RELATIVE_PATH_BYTES) throw new RelativePathError(`relative path is longer than ${MAX_RELATIVE_PATH_BYTES} bytes`);
  return normal;
}
