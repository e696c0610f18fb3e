/** Parses a command-line time flag. */

/** Parses an RFC 3339 time with a zone (`2027-01-31T00:00:00Z`, `…+02:00`); `flag` names it in errors. */
export function parseTime(text: string, flag: string): Date {
  const ok = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/i.test(text);
  const d = new Date(text);
  if (!ok || !Number.isFinite(d.getTime())) throw new TypeError(`${flag} must be an RFC 3339 time with a zone, e.g. 2027-01-31T00:00:00Z (got ${JSON.stringify(text)})`);
  return d;
}
