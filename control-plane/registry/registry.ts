/**
 * The registry: the control plane's library surface. Each mutation is one database transaction that
 * locks what it changes, checks its input against the current views, appends its events and applies
 * them to the views with the projector (the same code replay runs). Reads are scoped by tenant: a
 * package of another tenant is reported as not found.
 */
import { type Kysely, type Transaction } from 'kysely';
import { formatTimestamp, parseTimestamp, type Clock } from '../../core/time/clock.ts';
import { encodeManifest } from '../../core/manifest/codec.ts';
import type { Manifest } from '../../core/manifest/manifest.ts';
import type { Schema } from '../db/schema.ts';
import { readEvents, type StoredEvent } from '../events/event-log.ts';
import { createIdGenerator, type IdGenerator } from './ids.ts';
import { listPackages, type ListPackagesFilter, type Page, type PageRequest } from './list-packages.ts';
import { createMutate } from './mutation.ts';
import { decodePageToken, encodePageToken, filterFingerprint, pageSize } from './page-token.ts';
import { compareCodeUnits, toFileRecord, toPackageRecord, type FileRecord, type PackageRecord } from './records.ts';
import { RegistryError } from './registry-error.ts';
import { inScope, type TenantScope } from './scope.ts';
import { createRetention, type RetentionOperations } from './retention.ts';
import { createUploadSessions, UPLOAD_EXPIRY_GRACE_MS, type UploadSessions } from './upload-sessions.ts';
import { createReadResolution, type ReadResolution } from './read-resolution.ts';
import { BUILTIN_RETENTION_POLICY, isRetentionClass, type RetentionPolicy } from '../config/operator-config.ts';
import { checkPathsFree } from './paths-free.ts';
import { checkDigest, checkJsonObject, checkLabel, checkMediaType, checkRelativePath, checkSize } from './validation.ts';

export type { FileRecord, PackageRecord, StorageLocationRecord, UploadSessionRecord } from './records.ts';
export type { ListPackagesFilter, Page, PageRequest } from './list-packages.ts';
export type { CreateUploadSessionInput } from './upload-sessions.ts';
export type { ApplyHoldInput, ExtendRetentionInput, HoldRecord, ReleaseHoldInput, RetentionRecord, SweepInput, SweepResult } from './retention.ts';
export { ALL_TENANTS, type TenantScope } from './scope.ts';
export { MAX_RESOLVED_PAGE, MAX_RESOLVED_READS, type FileRef, type PackageReadSelection, type ResolvedFile } from './read-resolution.ts';

/** Input of `createPackage`. */
export interface CreatePackageInput {
  readonly tenant: string;
  readonly producer: string;
  readonly subject: string;
  readonly retentionClass: string;
  readonly metadata?: unknown;
}

/** Input of `addFile`: the data plane's report of bytes it has stored and verified. */
export interface AddFileInput {
  /** The caller's scope; the package must lie in it. */
  readonly tenant: TenantScope;
  readonly packageId: string;
  readonly relativePath: string;
  readonly size: number;
  readonly mediaType?: string;
  readonly blake3: string;
  readonly sha256: string;
  readonly backendId: string;
  readonly storageKey: string;
  /** Replace an existing file at the same path instead of failing with already-exists. */
  readonly replace?: boolean;
  /**
   * The upload session this file completes, and the completion's id: it must be completing under that
   * id, for this package and path, and it is closed as completed in the same transaction (see
   * `upload-sessions.ts`).
   */
  readonly upload?: { readonly uploadId: string; readonly completionId: string };
}

/** One entry of `addFiles`: a file of the batch's package. */
export type AddFileEntry = Omit<AddFileInput, 'tenant' | 'packageId' | 'upload'>;

/** Most files `addFiles` records in one transaction. */
export const MAX_FILES_PER_BATCH = 1000;

/** Input of `finalizePackage`. */
export interface FinalizePackageInput {
  /** The caller's scope; the package must lie in it. */
  readonly tenant: TenantScope;
  readonly packageId: string;
  /** Producer facts recorded in the manifest (tool, versions, source commits). */
  readonly provenance?: unknown;
}

/** Result of finalizing. */
export interface FinalizeResult {
  readonly package: PackageRecord;
  readonly manifest: Manifest;
  /** The canonical CBOR manifest, identical to the `v1.package.finalized` event payload. */
  readonly manifestBytes: Uint8Array;
}

/**
 * The registry's operations. Every read and every change to an existing package takes the caller's
 * tenant scope; packages outside it are `not-found`.
 */
export interface Registry extends UploadSessions, RetentionOperations, ReadResolution {
  /** Opens a new package of `input.tenant` and applies its class's default retention. */
  createPackage(input: CreatePackageInput): Promise<PackageRecord>;
  /** Records a stored file in an open package. */
  addFile(input: AddFileInput): Promise<FileRecord>;
  /**
   * Records several stored files of one open package in one transaction (at most
   * `MAX_FILES_PER_BATCH`): all or, when one entry is refused (the error names it), none.
   */
  addFiles(tenant: TenantScope, packageId: string, inputs: readonly AddFileEntry[]): Promise<FileRecord[]>;
  /** Writes the manifest and makes the package immutable. */
  finalizePackage(input: FinalizePackageInput): Promise<FinalizeResult>;
  /** One package. */
  getPackage(tenant: TenantScope, packageId: string): Promise<PackageRecord>;
  /** Packages newest first, filtered, one page at a time (default 100, at most 1000). */
  listPackages(tenant: TenantScope, filter: ListPackagesFilter, page?: PageRequest): Promise<Page<PackageRecord>>;
  /** The current files of a package, by relative path. */
  listFiles(tenant: TenantScope, packageId: string): Promise<FileRecord[]>;
  /** One page of `listFiles` (default 1000, at most 10000). */
  listFilesPage(tenant: TenantScope, packageId: string, page: PageRequest): Promise<Page<FileRecord>>;
  /**
   * Checks, without writing, that a file may be added at `relativePath`: the package is open and in
   * scope, the path is valid, and it is free (or `replace` is asked). Returns the path's normal form.
   */
  checkWrite(tenant: TenantScope, packageId: string, relativePath: string, replace: boolean): Promise<string>;
  /** The canonical CBOR manifest of a finalized package (the finalized event's payload). */
  getManifestBytes(tenant: TenantScope, packageId: string): Promise<Uint8Array>;
}

/** Dependencies of the registry. */
export interface RegistryOptions {
  readonly db: Kysely<Schema>;
  readonly clock: Clock;
  readonly ids?: IdGenerator;
  /** Called after each committed mutation with its events (e.g. to wake event tails). */
  readonly onCommit?: (events: readonly StoredEvent[]) => void;
  /**
   * Default retention per class (the operator's `retention.classes`; default: the built-in values).
   * Read only when a package is created: its computed expiry is then written into the
   * `v1.retention.default_applied` event, so a later change never rewrites existing packages.
   */
  readonly retentionPolicy?: RetentionPolicy;
  /** One mutation at a time, yielding to the event loop between them (set for embedded PGlite). */
  readonly exclusiveMutations?: boolean;
}

/** Creates the registry over an open, migrated database. */
export function createRegistry(options: RegistryOptions): Registry {
  const { db, clock } = options;
  const ids = options.ids ?? createIdGenerator(clock);

  const mutate = createMutate(db, clock, { onCommit: options.onCommit, exclusive: options.exclusiveMutations });
  const policy = options.retentionPolicy ?? BUILTIN_RETENTION_POLICY;

  async function lockOpenPackage(trx: Transaction<Schema>, tenant: TenantScope, packageId: string): Promise<void> {
    const row = await trx.selectFrom('packages').select(['tenant', 'status']).where('package_id', '=', checkLabel('package_id', packageId)).forUpdate().executeTakeFirst();
    if (row === undefined || !inScope(tenant, row.tenant)) throw new RegistryError('not-found', `package ${packageId} not found`);
    if (row.status !== 'created' && row.status !== 'uploading') throw new RegistryError('failed-precondition', `package ${packageId} is ${row.status} and can no longer change`);
  }

  async function loadPackage(q: Kysely<Schema>, tenant: TenantScope, packageId: string): Promise<PackageRecord> {
    const row = await q
      .selectFrom('packages')
      .leftJoin('retention_state', 'retention_state.package_id', 'packages.package_id')
      .selectAll('packages')
      .select('retention_state.expires_at')
      .where('packages.package_id', '=', checkLabel('package_id', packageId))
      .executeTakeFirst();
    if (row === undefined || !inScope(tenant, row.tenant)) throw new RegistryError('not-found', `package ${packageId} not found`);
    return toPackageRecord(row);
  }

  async function loadFiles(q: Kysely<Schema>, packageId: string): Promise<FileRecord[]> {
    const rows = await q.selectFrom('files').selectAll().where('package_id', '=', packageId).execute();
    return rows.map(toFileRecord).sort((a, b) => compareCodeUnits(a.relativePath, b.relativePath));
  }

  const uploads = createUploadSessions({ db, clock, ids, mutate, loadPackage, lockOpenPackage, checkPathFree });
  const retentionOps = createRetention({ db, clock, ids, mutate });
  const reads = createReadResolution({ db, loadPackage, loadFiles });

  /**
   * Throws unless `relativePath` (normal form) is free in the package, or `replace` is asked; returns
   * the id of the file it replaces. The one-path case of `checkPathsFree` (same rules, same messages).
   */
  async function checkPathFree(q: Kysely<Schema>, packageId: string, relativePath: string, replace: boolean): Promise<string | undefined> {
    return (await checkPathsFree(q, packageId, [{ relativePath, replace }])).get(relativePath);
  }

  /**
   * Records `inputs` in the open package, in order, in one transaction: all of them or (on the first
   * bad entry, named in the error) none. A path may appear once per batch.
   */
  async function addFiles(tenant: TenantScope, packageId: string, inputs: readonly AddFileEntry[], upload?: AddFileInput['upload']): Promise<FileRecord[]> {
    if (inputs.length === 0) return [];
    if (inputs.length > MAX_FILES_PER_BATCH) throw new RegistryError('invalid-argument', `at most ${MAX_FILES_PER_BATCH} files per batch, got ${inputs.length}`);
    const checked = inputs.map((input, index) => {
      try {
        return {
          relativePath: checkRelativePath(input.relativePath),
          size: checkSize('size', input.size),
          mediaType: checkMediaType('media_type', input.mediaType),
          blake3: checkDigest('blake3', input.blake3, 'blake3'),
          sha256: checkDigest('sha256', input.sha256, 'sha256'),
          backendId: checkLabel('backend_id', input.backendId),
          storageKey: checkLabel('storage_key', input.storageKey, 1024),
          replace: input.replace === true,
          fileId: ids.next('file'),
        };
      } catch (err) {
        throw inputs.length === 1 || !(err instanceof RegistryError) ? err : new RegistryError(err.code, `file ${index} (${JSON.stringify(input.relativePath)}): ${err.message}`);
      }
    });
    const seen = new Set<string>();
    for (const entry of checked) {
      if (seen.has(entry.relativePath)) throw new RegistryError('invalid-argument', `${JSON.stringify(entry.relativePath)} appears twice in one batch`);
      seen.add(entry.relativePath);
    }
    const events = await mutate(async (trx, emit, emitAll) => {
      await lockOpenPackage(trx, tenant, packageId);
      const [completes] = checked;
      // The session first: a completion that lost its session is told so, not that the path is taken.
      const recordCompletion =
        upload === undefined || completes === undefined
          ? undefined
          : await uploads.completeUpload(trx, emit, tenant, upload.uploadId, upload.completionId, { fileId: completes.fileId, packageId, relativePath: completes.relativePath });
      const replaced = await checkPathsFree(trx, packageId, checked);
      const added = await emitAll(
        checked.map((entry) => ({
          type: 'v1.file.added' as const,
          payload: {
            package_id: packageId,
            file_id: entry.fileId,
            relative_path: entry.relativePath,
            size: entry.size,
            media_type: entry.mediaType,
            digests: { blake3: entry.blake3, sha256: entry.sha256 },
            storage: { backend_id: entry.backendId, storage_key: entry.storageKey },
            replaces_file_id: replaced.get(entry.relativePath) ?? null,
          },
        })),
      );
      await recordCompletion?.();
      return added;
    });
    // The records are what the events say (the projector writes exactly these values); no read-back.
    return checked.map((entry, index) => ({
      fileId: entry.fileId,
      packageId,
      relativePath: entry.relativePath,
      size: entry.size,
      mediaType: entry.mediaType,
      blake3: entry.blake3,
      sha256: entry.sha256,
      createdAt: events[index]?.occurredAt ?? '',
    }));
  }

  return {
    async createPackage(input) {
      const tenant = checkLabel('tenant', input.tenant);
      const producer = checkLabel('producer', input.producer);
      const subject = checkLabel('subject', input.subject, 1024);
      const retentionClass = checkLabel('retention_class', input.retentionClass);
      const metadata = checkJsonObject('metadata', input.metadata);
      const packageId = ids.next('pkg');
      if (!isRetentionClass(retentionClass)) throw new RegistryError('invalid-argument', `unknown retention class ${JSON.stringify(retentionClass)}`);
      const retention = policy[retentionClass];
      await mutate(async (trx, emit) => {
        const created = await emit({ type: 'v1.package.created', payload: { package_id: packageId, tenant, producer, subject, retention_class: retentionClass, metadata } });
        // From the creation event's own timestamp, so expires_at - created_at is exactly the class duration.
        const expiresAt = retention.kind === 'never' ? null : formatTimestamp(new Date(parseTimestamp(created.occurredAt).getTime() + retention.ms));
        await emit({ type: 'v1.retention.default_applied', payload: { package_id: packageId, retention_class: retentionClass, expires_at: expiresAt } });
      });
      return loadPackage(db, tenant, packageId);
    },

    async addFile(input) {
      const [file] = await addFiles(input.tenant, input.packageId, [input], input.upload);
      if (file === undefined) throw new RegistryError('not-found', `the file added at ${JSON.stringify(input.relativePath)} vanished`);
      return file;
    },

    addFiles: (tenant, packageId, inputs) => addFiles(tenant, packageId, inputs),

    async finalizePackage(input) {
      const provenance = checkJsonObject('provenance', input.provenance);
      return mutate(async (trx, emit) => {
        await lockOpenPackage(trx, input.tenant, input.packageId);
        // A file still being uploaded would silently be missing from the manifest.
        // Open ones until their deadline; completing ones also through the grace after it, in which a
        // completion that began in time may still record its file.
        const now = clock.now();
        const uploading = await trx
          .selectFrom('upload_sessions')
          .select('upload_id')
          .where('package_id', '=', input.packageId)
          .where((eb) =>
            eb.or([
              eb.and([eb('status', '=', 'open'), eb('expires_at', '>', now)]),
              eb.and([eb('status', '=', 'completing'), eb('expires_at', '>', new Date(now.getTime() - UPLOAD_EXPIRY_GRACE_MS))]),
            ]),
          )
          .orderBy('upload_id')
          .execute();
        if (uploading.length > 0) {
          const ids = uploading.slice(0, 5).map((u) => u.upload_id).join(', ');
          throw new RegistryError('failed-precondition', `package ${input.packageId} has ${uploading.length} upload session(s) in progress (${ids}${uploading.length > 5 ? ', …' : ''}): complete or abort them (DELETE /uploads/{id}) before finalizing`);
        }
        const pkg = await loadPackage(trx, input.tenant, input.packageId);
        // One read of the package's files serves both parts of the manifest: its entries, in UTF-16 code
        // unit order, and its storage receipts. Receipts come from the package's own files (the backend
        // each file's event stored it on, and when this package first recorded that content there), not
        // from storage_locations, which every tenant holding the same content shares: its first row would
        // tell this tenant when (and where) another had stored these bytes.
        const files = await trx
          .selectFrom('files')
          .select(['relative_path', 'size', 'media_type', 'digest_primary', 'digest_sha256', 'content_address', 'backend_id', 'created_at'])
          .where('package_id', '=', input.packageId)
          .execute();
        files.sort((a, b) => compareCodeUnits(a.relative_path, b.relative_path));
        const locations = new Map<string, { content_address: string; backend_id: string; stored_at: Date }>();
        for (const f of files) {
          const key = `${f.content_address}\0${f.backend_id}`;
          const earlier = locations.get(key);
          if (earlier === undefined || f.created_at.getTime() < earlier.stored_at.getTime()) locations.set(key, { content_address: f.content_address, backend_id: f.backend_id, stored_at: f.created_at });
        }
        const retention = await trx.selectFrom('retention_state').selectAll().where('package_id', '=', input.packageId).executeTakeFirstOrThrow();
        // Never before the latest event (so never before the package's creation or its files), even when
        // the wall clock stepped back: the log's own rule for its timestamps (ADR 0005).
        const head = await trx.selectFrom('event_head').select('last_occurred_at').where('id', '=', 1).executeTakeFirstOrThrow();
        const finalizedAt = head.last_occurred_at !== null && head.last_occurred_at.getTime() > now.getTime() ? head.last_occurred_at : now;
        const manifest: Manifest = {
          manifest_version: 1,
          package: {
            package_id: pkg.packageId,
            tenant: pkg.tenant,
            producer: pkg.producer,
            subject: pkg.subject,
            retention_class: pkg.retentionClass,
            created_at: pkg.createdAt,
            finalized_at: formatTimestamp(finalizedAt),
            metadata: pkg.metadata,
          },
          files: files.map((f) => ({
            relative_path: f.relative_path,
            size: f.size,
            media_type: f.media_type,
            digests: { blake3: f.digest_primary as `blake3:${string}`, sha256: f.digest_sha256 as `sha256:${string}` },
          })),
          storage_receipts: [...locations.values()]
            .map((l) => ({ content_address: l.content_address as `blake3:${string}`, backend_id: l.backend_id, stored_at: formatTimestamp(l.stored_at) }))
            .sort((a, b) => (a.content_address < b.content_address ? -1 : a.content_address > b.content_address ? 1 : a.backend_id < b.backend_id ? -1 : a.backend_id > b.backend_id ? 1 : 0)),
          retention_summary: {
            retention_class: retention.retention_class,
            expires_at: retention.expires_at === null ? null : formatTimestamp(retention.expires_at),
            holds_active: retention.active_holds,
          },
          provenance,
        };
        const manifestBytes = encodeManifest(manifest);
        // `value`: the bytes encode a validated copy of `manifest`, which validation returns with the
        // same data or not at all; the projector then needs no decoding of 10,000 entries.
        await emit({ type: 'v1.package.finalized', payload: { canonicalBytes: manifestBytes, packageId: pkg.packageId, value: manifest } });
        return { package: await loadPackage(trx, input.tenant, input.packageId), manifest, manifestBytes };
      });
    },

    getPackage: (tenant, packageId) => loadPackage(db, tenant, packageId),

    listPackages: (tenant, filter, page = {}) => listPackages(db, tenant, filter, page),

    async listFiles(tenant, packageId) {
      await loadPackage(db, tenant, packageId);
      return loadFiles(db, packageId);
    },

    async listFilesPage(tenant, packageId, page) {
      await loadPackage(db, tenant, packageId);
      // Paged in memory: the order is UTF-16 code units (the manifest's), which no SQL collation gives.
      const fingerprint = filterFingerprint({ p: packageId });
      const after = decodePageToken(page.pageToken, fingerprint);
      const limit = pageSize(page.pageSize, 1000, 10_000);
      const all = await loadFiles(db, packageId);
      const rest = after === undefined ? all : all.filter((f) => compareCodeUnits(f.relativePath, after) > 0);
      const items = rest.slice(0, limit);
      const last = items.at(-1);
      return { items, nextPageToken: rest.length > limit && last !== undefined ? encodePageToken(last.relativePath, fingerprint) : '' };
    },

    async checkWrite(tenant, packageId, relativePath, replace) {
      const path = checkRelativePath(relativePath);
      const pkg = await loadPackage(db, tenant, packageId);
      if (pkg.status !== 'created' && pkg.status !== 'uploading') throw new RegistryError('failed-precondition', `package ${packageId} is ${pkg.status} and can no longer change`);
      await checkPathFree(db, packageId, path, replace);
      return path;
    },

    ...uploads,

    ...retentionOps,

    ...reads,

    async getManifestBytes(tenant, packageId) {
      const pkg = await loadPackage(db, tenant, packageId);
      if (pkg.status !== 'finalized') throw new RegistryError('failed-precondition', `package ${packageId} is ${pkg.status}; it has a manifest once finalized`);
      const row = await db.selectFrom('events').select('sequence').where('package_id', '=', packageId).where('event_type', '=', 'v1.package.finalized').executeTakeFirstOrThrow();
      const [event] = await readEvents(db, { after: row.sequence - 1, limit: 1 });
      if (event === undefined) throw new RegistryError('not-found', `manifest event of ${packageId} missing`);
      return event.payload;
    },
  };
}
