// @ts-check
/**
 * Which CLI entry the `artifactstore` command runs (ADR 0021): the compiled one in `<root>/dist/` when
 * it was built from exactly the sources now on disk, else none (the caller then runs the TypeScript
 * sources through tsx). Plain JavaScript: it runs before any TypeScript loader exists.
 *
 * `dist/build.json` (written last by `cli/compile/compile-cli.ts`) lists every source file the build
 * read, relative to the root, with its size and modification time then. One `stat` per source: a
 * source edited, replaced or removed since the build makes the compiled CLI stale, and it is not used.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** Name of the build record inside the output directory. */
export const BUILD_RECORD = 'build.json';
/** Version of the build record's format. */
export const BUILD_RECORD_FORMAT = 1;

/**
 * The URL of `<root>/dist/main.js` when that build is current, else undefined (no build, an unreadable
 * or foreign record, or any source changed since).
 * @param {string} root the project root (the directory holding package.json, cli/ and dist/)
 * @param {string} [outDir] the build's directory, default `<root>/dist`
 * @returns {URL | undefined}
 */
export function currentCompiledCli(root, outDir = join(root, 'dist')) {
  /** @type {unknown} */
  let record;
  try {
    record = JSON.parse(readFileSync(join(outDir, BUILD_RECORD), 'utf8'));
  } catch {
    return undefined;
  }
  if (!isRecord(record) || record.format !== BUILD_RECORD_FORMAT || typeof record.entry !== 'string' || !isRecord(record.inputs)) return undefined;
  const inputs = Object.entries(record.inputs);
  if (inputs.length === 0) return undefined;
  for (const [path, seen] of inputs) {
    if (!Array.isArray(seen) || seen.length !== 2) return undefined;
    const now = statSync(join(root, path), { throwIfNoEntry: false });
    if (now === undefined || !now.isFile() || now.size !== seen[0] || now.mtimeMs !== seen[1]) return undefined;
  }
  return pathToFileURL(join(outDir, record.entry));
}

/**
 * @param {unknown} value
 * @returns {value is Record<string, unknown>}
 */
function isRecord(value) {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
