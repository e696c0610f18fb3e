/**
 * The batch form of the registry's path check: may every path of a batch be added to the package?
 * A path is refused when a file already has it (unless `replace`), when it is a directory of a file
 * (a file's path starts with `<path>/`), or when one of its directories is a file; paths of the batch
 * count as files too. A handful of set queries instead of three per path, each probing an index once
 * per path. Messages match the one-path check in `registry.ts`.
 */
import { sql, type Kysely } from 'kysely';
import type { Schema } from '../db/schema.ts';
import { RegistryError } from './registry-error.ts';

/** Paths per query: keeps parameter lists and OR chains modest. */
const CHUNK = 200;

/** One path to check, in normal form. */
export interface PathToAdd {
  readonly relativePath: string;
  readonly replace: boolean;
}

function ancestorsOf(path: string): string[] {
  const parts = path.split('/');
  return parts.slice(0, -1).map((_, i) => parts.slice(0, i + 1).join('/'));
}

function clash(path: string, other: string): RegistryError {
  return new RegistryError('already-exists', `${JSON.stringify(path)} clashes with file ${JSON.stringify(other)}: a path cannot be both a file and a directory`);
}

function chunks<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += CHUNK) out.push(items.slice(i, i + CHUNK));
  return out;
}

/**
 * The files of the package at `paths` (at most `limit` of them): one probe of the (package_id,
 * relative_path) key per path. The inner LIMIT keeps the planner from turning the probes into a join
 * (or, for an IN list, a filter) that reads every file of the package for every batch, which is what
 * it picks without statistics, i.e. always on PGlite (never analysed).
 */
async function filesAt(q: Kysely<Schema>, packageId: string, paths: readonly string[], limit?: number): Promise<{ file_id: string; relative_path: string }[]> {
  const { rows } = await sql<{ file_id: string; relative_path: string }>`
    SELECT hit.file_id, hit.relative_path
    FROM unnest(${paths}::text[]) AS b(p)
    CROSS JOIN LATERAL (SELECT file_id, relative_path FROM files WHERE package_id = ${packageId} AND relative_path = b.p LIMIT 1) AS hit
    ${limit === undefined ? sql`` : sql`LIMIT ${limit}`}`.execute(q);
  return rows;
}

/**
 * Throws the first refusal, or returns, for each path that replaces a file, the replaced file's id.
 * Paths must be distinct (the caller checks).
 */
export async function checkPathsFree(q: Kysely<Schema>, packageId: string, entries: readonly PathToAdd[]): Promise<Map<string, string>> {
  const paths = entries.map((e) => e.relativePath);
  const batch = new Set(paths);
  const replaced = new Map<string, string>();
  // Taken paths.
  for (const slice of chunks(paths)) {
    for (const row of await filesAt(q, packageId, slice)) replaced.set(row.relative_path, row.file_id);
  }
  for (const entry of entries) {
    if (replaced.has(entry.relativePath) && !entry.replace) {
      throw new RegistryError('already-exists', `package ${packageId} already has a file at ${JSON.stringify(entry.relativePath)}; ask to replace it`);
    }
  }
  // A directory of a path is a file of the batch or of the package.
  const ancestorOf = new Map<string, string>();
  for (const path of paths) {
    for (const ancestor of ancestorsOf(path)) {
      if (batch.has(ancestor)) throw clash(ancestor, path);
      if (!ancestorOf.has(ancestor)) ancestorOf.set(ancestor, path);
    }
  }
  for (const slice of chunks([...ancestorOf.keys()])) {
    const [row] = await filesAt(q, packageId, slice, 1);
    if (row !== undefined) throw clash(ancestorOf.get(row.relative_path) ?? row.relative_path, row.relative_path);
  }
  // A path is a directory of a file of the package: one byte-ordered index range per path ('0'
  // follows '/'), probed path by path through a lateral join over the array of paths.
  for (const slice of chunks(paths)) {
    const { rows } = await sql<{ p: string; relative_path: string }>`
      SELECT b.p, hit.relative_path
      FROM unnest(${slice}::text[]) AS b(p)
      CROSS JOIN LATERAL (
        SELECT relative_path FROM files
        WHERE package_id = ${packageId} AND relative_path COLLATE "C" >= b.p || '/' AND relative_path COLLATE "C" < b.p || '0'
        LIMIT 1
      ) AS hit
      LIMIT 1`.execute(q);
    const row = rows[0];
    if (row !== undefined) throw clash(row.p, row.relative_path);
  }
  return replaced;
}
