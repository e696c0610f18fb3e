// @ts-check
/**
 * Which CLI entry the `artifactstore` command runs (ADR 0021): the compiled one under `<root>/dist/`
 * when it was built from exactly the sources now on disk, else none (the caller then runs the
 * TypeScript sources through tsx). Plain JavaScript: it runs before any TypeScript loader exists.
 *
 * `dist/build.json` (replaced last by `cli/compile/compile-cli.ts`) names the current build's entry
 * and lists every file the build depended on, relative to the root, with its size and modification
 * time as read. One `stat` per file: a source edited, replaced or removed since the build makes the
 * compiled CLI stale, and it is not used.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** Name of the build record inside the output directory. */
export const BUILD_RECORD = 'build.json';
/** Version of the build record's format. */
export const BUILD_RECORD_FORMAT = 2;

/**
 * The URL of the compiled CLI's entry when its build is current, else undefined (no build, an
 * unreadable or foreign record, an entry outside `dist/builds/`, or any source changed since).
 * @param {string} root the project root (the directory holding package.json, cli/ and dist/)
 * @returns {URL | undefined}
 */
export function currentCompiledCli(root) {
  const outDir = join(root, 'dist');
  /** @type {unknown} */
  let record;
  try {
    record = JSON.parse(readFileSync(join(outDir, BUILD_RECORD), 'utf8'));
  } catch {
    return undefined;
  }
  if (!isRecord(record) || record.format !== BUILD_RECORD_FORMAT || !isRecord(record.inputs)) return undefined;
  const entry = record.entry;
  if (typeof entry !== 'string' || !/^builds\/[0-9a-f]{16}\/main\.js$/.test(entry)) return undefined;
  const inputs = Object.entries(record.inputs);
  if (inputs.length === 0) return undefined;
  for (const [path, seen] of inputs) {
    if (!Array.isArray(seen) || seen.length !== 2) return undefined;
    if (!unchanged(join(root, path), seen[0], seen[1])) return undefined;
  }
  if (!unchanged(join(outDir, entry))) return undefined;
  return pathToFileURL(join(outDir, entry));
}

/**
 * True when `path` is a regular file with this size and modification time (any, when not given).
 * @param {string} path @param {unknown} [size] @param {unknown} [mtimeMs]
 */
function unchanged(path, size, mtimeMs) {
  try {
    const now = statSync(path, { throwIfNoEntry: false });
    return now !== undefined && now.isFile() && (size === undefined || (now.size === size && now.mtimeMs === mtimeMs));
  } catch {
    return false; // ENOTDIR, EACCES, ELOOP...: not a file the build read
  }
}

/**
 * @param {unknown} value
 * @returns {value is Record<string, unknown>}
 */
function isRecord(value) {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
