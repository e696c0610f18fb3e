/**
 * Resolving reads: which files a caller may read and where their bytes are stored. One file
 * (`resolveFile`, a download) or several files of one package at once (`resolvePackageFiles`, an
 * archive read): the paths asked for, or a page of every file in manifest order. Several files cost
 * three queries in all (package, files, locations), not three per file.
 */
import { sql, type Kysely } from 'kysely';
import type { Schema } from '../db/schema.ts';
import type { Page } from './list-packages.ts';
import { decodePageToken, encodePageToken, filterFingerprint, pageSize } from './page-token.ts';
import { compareCodeUnits, toFileRecord, type FileRecord, type PackageRecord, type StorageLocationRecord } from './records.ts';
import { RegistryError } from './registry-error.ts';
import type { TenantScope } from './scope.ts';
import { checkLabel, checkRelativePath } from './validation.ts';

/** A file named by id, or by package and relative path. */
export type FileRef = { readonly fileId: string } | { readonly packageId: string; readonly relativePath: string };

/** A file and where its bytes are stored. */
export interface ResolvedFile {
  readonly file: FileRecord;
  /** Copies of the bytes, preferred first (failed copies last, then oldest first). */
  readonly locations: StorageLocationRecord[];
}

/** Which files of a package `resolvePackageFiles` resolves. */
export interface PackageReadSelection {
  /** These paths, in this order (at most `MAX_RESOLVED_READS`, each once). Absent or empty: every file, paged. */
  readonly relativePaths?: readonly string[];
  /** Without paths: where the page starts (a `nextPageToken`). */
  readonly pageToken?: string;
  /** Without paths: files per page (0 or absent: 1000; at most `MAX_RESOLVED_PAGE`). */
  readonly pageSize?: number;
}

/** Most relative paths one `resolvePackageFiles` call takes. */
export const MAX_RESOLVED_READS = 1000;
/** Most files one page of `resolvePackageFiles` holds (as `listFilesPage`). */
export const MAX_RESOLVED_PAGE = 10_000;

/** The read side of the registry. */
export interface ReadResolution {
  /** One current file. */
  getFile(tenant: TenantScope, ref: FileRef): Promise<FileRecord>;
  /** One current file and where its bytes are. */
  resolveFile(tenant: TenantScope, ref: FileRef): Promise<ResolvedFile>;
  /**
   * Current files of one package and where their bytes are: the paths asked for in that order (one that
   * is not a file of the package is `not-found`, naming it), or one page of every file in manifest order
   * (UTF-16 code units of the path).
   */
  resolvePackageFiles(tenant: TenantScope, packageId: string, selection: PackageReadSelection): Promise<Page<ResolvedFile>>;
}

/** What resolution needs from the registry. */
export interface ReadResolutionDeps {
  readonly db: Kysely<Schema>;
  /** The package if it lies in `tenant`'s scope; `not-found` otherwise. */
  readonly loadPackage: (q: Kysely<Schema>, tenant: TenantScope, packageId: string) => Promise<PackageRecord>;
  /** Every current file of a package, in manifest order. */
  readonly loadFiles: (q: Kysely<Schema>, packageId: string) => Promise<FileRecord[]>;
}

/** Creates the read operations. */
export function createReadResolution(deps: ReadResolutionDeps): ReadResolution {
  const { db, loadPackage, loadFiles } = deps;

  /** The copies of each content address, preferred first. */
  async function locationsOf(contentAddresses: readonly string[]): Promise<Map<string, StorageLocationRecord[]>> {
    const found = new Map<string, StorageLocationRecord[]>();
    const distinct = [...new Set(contentAddresses)];
    if (distinct.length === 0) return found;
    const rows = await db
      .selectFrom('storage_locations')
      .select(['content_address', 'backend_id', 'storage_key'])
      .where('content_address', 'in', distinct)
      .orderBy(sql`status = 'failed'`)
      .orderBy('stored_at')
      .orderBy('backend_id')
      .execute();
    for (const row of rows) {
      const list = found.get(row.content_address) ?? [];
      list.push({ backendId: row.backend_id, storageKey: row.storage_key });
      found.set(row.content_address, list);
    }
    return found;
  }

  async function withLocations(files: readonly FileRecord[]): Promise<ResolvedFile[]> {
    const locations = await locationsOf(files.map((f) => f.blake3));
    return files.map((file) => ({ file, locations: locations.get(file.blake3) ?? [] }));
  }

  async function selectedFiles(packageId: string, requested: readonly string[]): Promise<FileRecord[]> {
    if (requested.length > MAX_RESOLVED_READS) throw new RegistryError('invalid-argument', `at most ${MAX_RESOLVED_READS} relative paths per request (got ${requested.length})`);
    const paths = requested.map((p) => checkRelativePath(p));
    const seen = new Set<string>();
    for (const path of paths) {
      if (seen.has(path)) throw new RegistryError('invalid-argument', `relative path ${JSON.stringify(path)} is asked for twice`);
      seen.add(path);
    }
    const rows = await db.selectFrom('files').selectAll().where('package_id', '=', packageId).where('relative_path', 'in', paths).execute();
    const byPath = new Map(rows.map((row) => [row.relative_path, toFileRecord(row)]));
    return paths.map((path) => {
      const file = byPath.get(path);
      if (file === undefined) throw new RegistryError('not-found', `file ${JSON.stringify(path)} of package ${packageId} not found`);
      return file;
    });
  }

  async function loadFile(tenant: TenantScope, ref: FileRef): Promise<FileRecord> {
      let q = db.selectFrom('files').selectAll();
      if ('fileId' in ref) q = q.where('file_id', '=', checkLabel('file_id', ref.fileId));
      else q = q.where('package_id', '=', checkLabel('package_id', ref.packageId)).where('relative_path', '=', checkRelativePath(ref.relativePath));
      const row = await q.executeTakeFirst();
      const what = 'fileId' in ref ? `file ${ref.fileId}` : `file ${JSON.stringify(ref.relativePath)} of package ${ref.packageId}`;
      if (row === undefined) throw new RegistryError('not-found', `${what} not found`);
      try {
        await loadPackage(db, tenant, row.package_id);
      } catch (err) {
        if (err instanceof RegistryError && err.code === 'not-found') throw new RegistryError('not-found', `${what} not found`);
        throw err;
      }
      return toFileRecord(row);
  }

  return {
    getFile: loadFile,

    async resolveFile(tenant, ref) {
      const [resolved] = await withLocations([await loadFile(tenant, ref)]);
      return resolved as ResolvedFile;
    },

    async resolvePackageFiles(tenant, packageId, selection) {
      await loadPackage(db, tenant, checkLabel('package_id', packageId));
      const requested = selection.relativePaths ?? [];
      if (requested.length > 0) {
        if ((selection.pageToken ?? '') !== '' || (selection.pageSize ?? 0) !== 0) throw new RegistryError('invalid-argument', 'give either relative paths, or a page token and size');
        return { items: await withLocations(await selectedFiles(packageId, requested)), nextPageToken: '' };
      }
      // Paged in memory, as listFilesPage: manifest order is UTF-16 code units, which no SQL collation gives.
      const fingerprint = filterFingerprint({ p: packageId, read: true });
      const after = decodePageToken(selection.pageToken, fingerprint);
      const limit = pageSize(selection.pageSize, 1000, MAX_RESOLVED_PAGE);
      const all = await loadFiles(db, packageId);
      const rest = after === undefined ? all : all.filter((f) => compareCodeUnits(f.relativePath, after) > 0);
      const items = rest.slice(0, limit);
      const last = items.at(-1);
      return { items: await withLocations(items), nextPageToken: rest.length > limit && last !== undefined ? encodePageToken(last.relativePath, fingerprint) : '' };
    },
  };
}
