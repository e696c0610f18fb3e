/**
 * Node system errors by errno name. Shared by the places that handle the filesystem themselves: the
 * local storage backend (which translates them into StorageError, so nothing above it sees an errno)
 * and the embedded database's lock file.
 */

/** The errno name (`ENOENT`, …) of a Node system error, or undefined for anything else. */
export function errnoCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  return typeof error.code === 'string' ? error.code : undefined;
}

/** True when `error` is a Node system error with one of `codes`. */
export function hasErrno(error: unknown, ...codes: string[]): boolean {
  const code = errnoCode(error);
  return code !== undefined && codes.includes(code);
}
