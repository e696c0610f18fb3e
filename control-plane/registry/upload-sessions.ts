/**
 * Resumable upload sessions. The control plane only records them (events `v1.upload.created`,
 * `v1.upload.completing`, `v1.upload.completed`, `v1.upload.aborted`, `v1.upload.expired`, projected
 * into `upload_sessions`); the bytes and the offset reached live on the data plane under the session's
 * staging key.
 *
 * Completion: `beginUploadCompletion` marks the session `completing` before the data plane reads the
 * parts, so a chunk that has not been acknowledged by then is refused (the data plane checks the status
 * after storing a chunk, before it answers). The file is then recorded and the session closed as
 * completed in one transaction (`completeUpload`, called by `addFile` with the upload id), which holds
 * only while the session is still completing: an abort, or an expiry, that comes first wins, and of two
 * completions only one records a file.
 *
 * Expiry: from `expires_at` (UPLOAD_SESSION_TTL_MS after opening) an open session is reported `expired`,
 * so data planes refuse its chunks and new completions. Its expiry may be recorded, and its parts deleted,
 * only UPLOAD_EXPIRY_GRACE_MS later (`purgeable`): a completion that started before the deadline is still
 * reading those parts and may record its file and close the session as completed until then.
 */
import type { Kysely, Transaction } from 'kysely';
import { formatTimestamp, type Clock } from '../../core/time/clock.ts';
import type { Page, PageRequest } from './list-packages.ts';
import { decodePageToken, encodePageToken, filterFingerprint, pageSize } from './page-token.ts';
import type { Schema } from '../db/schema.ts';
import type { IdGenerator } from './ids.ts';
import type { Emit, Mutate } from './mutation.ts';
import { toUploadSessionRecord, type PackageRecord, type UploadSessionRecord } from './records.ts';
import { RegistryError } from './registry-error.ts';
import type { TenantScope } from './scope.ts';
import { checkDigest, checkLabel, checkMediaType, checkRelativePath, checkSize } from './validation.ts';

/** How long an open session stays resumable. */
export const UPLOAD_SESSION_TTL_MS = 24 * 3_600_000;
/** How long after its deadline an expired session's parts stay, for completions that started in time. */
export const UPLOAD_EXPIRY_GRACE_MS = 3_600_000;

/** Input of `createUploadSession`. */
export interface CreateUploadSessionInput {
  readonly tenant: TenantScope;
  readonly packageId: string;
  readonly relativePath: string;
  readonly mediaType?: string;
  readonly expectedSize?: number;
  readonly expectedSha256?: string;
  readonly expectedBlake3?: string;
  readonly replace?: boolean;
  /** Backend the parts and the final object go to. */
  readonly backendId: string;
  /** The data plane that opened it, if known. */
  readonly dataPlaneId?: string;
}

/** Upload-session operations of the registry. */
export interface UploadSessions {
  /** Opens a session on an open package for a free path (or with `replace`). */
  createUploadSession(input: CreateUploadSessionInput): Promise<UploadSessionRecord>;
  /**
   * One session; not-found when its package is outside the scope. An open session past its
   * `expiresAt` is returned with status `expired` before that is recorded, so every caller treats it as
   * closed from that instant on; `purgeable` says whether the expiry may be recorded yet (file comment).
   */
  getUploadSession(tenant: TenantScope, uploadId: string): Promise<UploadSessionRecord>;
  /**
   * Marks an open or completing session `completing` under a new completion id (`v1.upload.completing`):
   * a completion already running (or dead) can then neither record its file nor reopen the session.
   * Failed-precondition when the session is closed or past its deadline.
   */
  beginUploadCompletion(tenant: TenantScope, uploadId: string): Promise<{ readonly session: UploadSessionRecord; readonly completionId: string }>;
  /**
   * Reopens a session whose completion `completionId` failed (`v1.upload.completion_failed`, with
   * `reason`). Returns the session unchanged when it is not completing under that id (another completion
   * took over, or the session closed).
   */
  abandonUploadCompletion(tenant: TenantScope, uploadId: string, completionId: string, reason: string): Promise<UploadSessionRecord>;
  /**
   * Ends an open or completing session. `aborted` is the client's own decision and is accepted until
   * the session is completed or its expiry recorded; `expired` requires that the session is purgeable
   * and records `v1.upload.expired`. Closing again with the same status returns the session unchanged
   * (retries are safe); another status is failed-precondition. (A session is completed by `addFile`
   * with its upload id.)
   */
  closeUploadSession(tenant: TenantScope, uploadId: string, status: 'aborted' | 'expired'): Promise<UploadSessionRecord>;
  /**
   * Open sessions of every tenant that are purgeable now (past the deadline and the grace period, no
   * expiry recorded), in upload-id order, each reported as `expired` and `purgeable`; only those on
   * `backendIds` when given. For the sweep that deletes their parts and records their expiry (default
   * 100 per page, at most 1000).
   */
  listPurgeableUploadSessions(filter: { readonly backendIds?: readonly string[] }, page: PageRequest): Promise<Page<UploadSessionRecord>>;
}

/** What the upload-session operations need from the registry. */
export interface UploadSessionDeps {
  readonly db: Kysely<Schema>;
  readonly clock: Clock;
  readonly ids: IdGenerator;
  readonly mutate: Mutate;
  readonly loadPackage: (q: Kysely<Schema>, tenant: TenantScope, packageId: string) => Promise<PackageRecord>;
  /** Locks the package row (FOR UPDATE); not-found outside the scope, failed-precondition unless it is open. */
  readonly lockOpenPackage: (trx: Transaction<Schema>, tenant: TenantScope, packageId: string) => Promise<void>;
  readonly checkPathFree: (q: Kysely<Schema>, packageId: string, relativePath: string, replace: boolean) => Promise<string | undefined>;
}

/** The registry's own side of the upload sessions: what runs inside another operation's transaction. */
export interface UploadSessionInternals {
  /**
   * Closes a completing session as completed with `file`, inside the transaction that records the file.
   * Checks (and locks the session) at once: failed-precondition unless the session is completing under
   * `completionId`, invalid-argument when the file is not the session's package and path. Resolves with
   * the step that writes `v1.upload.completed`, to run after the file's `v1.file.added`.
   */
  completeUpload(
    trx: Transaction<Schema>,
    emit: Emit,
    tenant: TenantScope,
    uploadId: string,
    completionId: string,
    file: { readonly fileId: string; readonly packageId: string; readonly relativePath: string },
  ): Promise<() => Promise<void>>;
}

/** Creates the upload-session operations. */
export function createUploadSessions(deps: UploadSessionDeps): UploadSessions & UploadSessionInternals {
  const { db, clock, ids, mutate, loadPackage, lockOpenPackage, checkPathFree } = deps;

  async function load(q: Kysely<Schema>, tenant: TenantScope, uploadId: string, lock = false): Promise<UploadSessionRecord> {
    let query = q.selectFrom('upload_sessions').selectAll().where('upload_id', '=', checkLabel('upload_id', uploadId));
    if (lock) query = query.forUpdate();
    const row = await query.executeTakeFirst();
    if (row === undefined) throw new RegistryError('not-found', `upload ${uploadId} not found`);
    try {
      await loadPackage(q, tenant, row.package_id);
    } catch (err) {
      if (err instanceof RegistryError && err.code === 'not-found') throw new RegistryError('not-found', `upload ${uploadId} not found`);
      throw err;
    }
    return toUploadSessionRecord(row);
  }

  /** True from `graceMs` after the session's deadline on. */
  function isPast(session: UploadSessionRecord, graceMs: number): boolean {
    return clock.now().getTime() >= Date.parse(session.expiresAt) + graceMs;
  }

  return {
    async createUploadSession(input) {
      const relativePath = checkRelativePath(input.relativePath);
      const mediaType = checkMediaType('media_type', input.mediaType);
      const expectedSize = input.expectedSize === undefined ? null : checkSize('expected_size', input.expectedSize);
      const expectedSha256 = input.expectedSha256 === undefined || input.expectedSha256 === '' ? null : checkDigest('expected_sha256', input.expectedSha256, 'sha256');
      const expectedBlake3 = input.expectedBlake3 === undefined || input.expectedBlake3 === '' ? null : checkDigest('expected_blake3', input.expectedBlake3, 'blake3');
      const backendId = checkLabel('backend_id', input.backendId);
      const uploadId = ids.next('upload');
      await mutate(async (trx, emit) => {
        // Locked, as every write to a package locks it first: a finalize cannot miss this session, and
        // the session row's key check on the package cannot wait on a writer that holds the package
        // while it waits for the log (a deadlock on PostgreSQL).
        await lockOpenPackage(trx, input.tenant, input.packageId);
        await checkPathFree(trx, input.packageId, relativePath, input.replace === true);
        await emit({
          type: 'v1.upload.created',
          payload: {
            upload_id: uploadId,
            package_id: input.packageId,
            relative_path: relativePath,
            media_type: mediaType,
            expected_size: expectedSize,
            expected_sha256: expectedSha256,
            expected_blake3: expectedBlake3,
            replace: input.replace === true,
            // Storage keys are lower case (data-plane/storage/keys.ts); the ULID is upper case.
            staging_key: `uploads/${uploadId.toLowerCase()}`,
            backend_id: backendId,
            data_plane_id: input.dataPlaneId ?? null,
            expires_at: formatTimestamp(new Date(clock.now().getTime() + UPLOAD_SESSION_TTL_MS)),
          },
        });
      });
      return load(db, input.tenant, uploadId);
    },

    async getUploadSession(tenant, uploadId) {
      const session = await load(db, tenant, uploadId);
      if (!isUnfinished(session) || !isPast(session, 0)) return session;
      return { ...session, status: 'expired', purgeable: isPast(session, UPLOAD_EXPIRY_GRACE_MS) };
    },

    async listPurgeableUploadSessions(filter, page) {
      const backendIds = [...new Set((filter.backendIds ?? []).map((id) => checkLabel('backend_id', id)))].sort();
      const fingerprint = filterFingerprint({ purgeable: backendIds });
      const after = decodePageToken(page.pageToken, fingerprint);
      const limit = pageSize(page.pageSize, 100, 1000);
      const before = new Date(clock.now().getTime() - UPLOAD_EXPIRY_GRACE_MS);
      let query = db.selectFrom('upload_sessions').selectAll().where('status', 'in', ['open', 'completing']).where('expires_at', '<=', before);
      if (backendIds.length > 0) query = query.where('backend_id', 'in', backendIds);
      if (after !== undefined) query = query.where('upload_id', '>', after);
      const rows = await query.orderBy('upload_id').limit(limit + 1).execute();
      const items = rows.slice(0, limit).map((row) => ({ ...toUploadSessionRecord(row), status: 'expired' as const, purgeable: true }));
      return { items, nextPageToken: rows.length > limit ? encodePageToken(items.at(-1)!.uploadId, fingerprint) : '' };
    },

    async beginUploadCompletion(tenant, uploadId) {
      const completionId = ids.next('completion');
      return mutate(async (trx, emit) => {
        const session = await load(trx, tenant, uploadId, true);
        if (!isUnfinished(session)) throw new RegistryError('failed-precondition', `upload ${uploadId} is already ${session.status}`);
        if (isPast(session, 0)) throw new RegistryError('failed-precondition', `upload ${uploadId} expired at ${session.expiresAt} before it completed`);
        await emit({ type: 'v1.upload.completing', payload: { upload_id: uploadId, package_id: session.packageId, completion_id: completionId } });
        return { session: await load(trx, tenant, uploadId), completionId };
      });
    },

    async abandonUploadCompletion(tenant, uploadId, completionId, reason) {
      const why = checkLabel('reason', reason);
      return mutate(async (trx, emit) => {
        const session = await load(trx, tenant, uploadId, true);
        if (session.status !== 'completing' || session.completionId !== completionId) return session;
        await emit({ type: 'v1.upload.completion_failed', payload: { upload_id: uploadId, package_id: session.packageId, completion_id: completionId, reason: why } });
        return load(trx, tenant, uploadId);
      });
    },

    async closeUploadSession(tenant, uploadId, status) {
      return mutate(async (trx, emit) => {
        const session = await load(trx, tenant, uploadId, true);
        if (session.status === status) return session;
        if (!isUnfinished(session)) throw new RegistryError('failed-precondition', `upload ${uploadId} is already ${session.status}`);
        if (status === 'expired') {
          if (!isPast(session, UPLOAD_EXPIRY_GRACE_MS)) {
            const from = formatTimestamp(new Date(Date.parse(session.expiresAt) + UPLOAD_EXPIRY_GRACE_MS));
            throw new RegistryError('failed-precondition', `upload ${uploadId} expires at ${session.expiresAt}; its expiry can be recorded from ${from}`);
          }
          await emit({ type: 'v1.upload.expired', payload: { upload_id: uploadId, package_id: session.packageId, expires_at: session.expiresAt } });
        } else {
          await emit({ type: 'v1.upload.aborted', payload: { upload_id: uploadId, package_id: session.packageId } });
        }
        return load(trx, tenant, uploadId);
      });
    },

    async completeUpload(trx, emit, tenant, uploadId, completionId, file) {
      const session = await load(trx, tenant, uploadId, true);
      if (session.status === 'open') throw new RegistryError('failed-precondition', `upload ${uploadId} is not being completed (BeginUploadCompletion first)`);
      if (session.status !== 'completing') throw new RegistryError('failed-precondition', `upload ${uploadId} is already ${session.status}`);
      if (session.completionId !== completionId) throw new RegistryError('failed-precondition', `upload ${uploadId} is being completed by another request, which took over from this one`);
      if (session.packageId !== file.packageId || session.relativePath !== file.relativePath) {
        throw new RegistryError('invalid-argument', `upload ${uploadId} is for ${JSON.stringify(session.relativePath)} of package ${session.packageId}, not ${JSON.stringify(file.relativePath)} of ${file.packageId}`);
      }
      return async () => {
        await emit({ type: 'v1.upload.completed', payload: { upload_id: uploadId, package_id: session.packageId, file_id: file.fileId } });
      };
    },
  };
}

/** Open or completing: not yet closed (it may still be reported `expired` past its deadline). */
function isUnfinished(session: UploadSessionRecord): boolean {
  return session.status === 'open' || session.status === 'completing';
}
