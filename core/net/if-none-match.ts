/** `If-None-Match` evaluation, shared by the control plane's manifest routes and the data plane's downloads. */

/**
 * True when `If-None-Match` matches `etag` (weak comparison, RFC 9110 §13.1.2): `*`, or any listed tag
 * equal to it once a `W/` prefix is ignored.
 */
export function ifNoneMatchMatches(value: string | undefined, etag: string): boolean {
  if (value === undefined) return false;
  if (value.trim() === '*') return true;
  const tags = value.match(/(?:W\/)?"[^"]*"/g) ?? [];
  return tags.some((tag) => tag.replace(/^W\//, '') === etag);
}
