/**
 * The shapes the registry reports, and the mapping from view rows to them (one place, so every read
 * path formats timestamps and digests the same way).
 */
import type { Selectable } from 'kysely';
import { formatTimestamp } from '../../core/time/clock.ts';
import type { JsonObject } from '../../core/manifest/manifest.ts';
import type { FilesTable, PackagesTable, PackageStatus, UploadSessionsTable, UploadStatus } from '../db/schema.ts';

/** A package as the registry reports it. */
export interface PackageRecord {
  readonly packageId: string;
  readonly tenant: string;
  readonly producer: string;
  readonly subject: string;
  readonly retentionClass: string;
  readonly status: PackageStatus;
  readonly metadata: JsonObject;
  readonly manifestDigest: string | null;
  readonly fileCount: number;
  readonly totalBytes: number;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly finalizedAt: string | null;
  readonly expiresAt: string | null;
}

/** A file as the registry reports it. */
export interface FileRecord {
  readonly fileId: string;
  readonly packageId: string;
  readonly relativePath: string;
  readonly size: number;
  readonly mediaType: string;
  readonly blake3: string;
  readonly sha256: string;
  readonly createdAt: string;
}

/** Where one copy of a file's bytes lives. */
export interface StorageLocationRecord {
  readonly backendId: string;
  readonly storageKey: string;
}

/** An upload session as the registry reports it. */
export interface UploadSessionRecord {
  readonly uploadId: string;
  readonly packageId: string;
  readonly relativePath: string;
  readonly mediaType: string;
  readonly expectedSize: number | null;
  readonly expectedSha256: string | null;
  readonly expectedBlake3: string | null;
  readonly replace: boolean;
  readonly status: UploadStatus;
  readonly stagingKey: string;
  readonly backendId: string;
  readonly dataPlaneId: string | null;
  readonly createdAt: string;
  readonly expiresAt: string;
  /**
   * True once the expiry may be recorded and the parts deleted: the session is recorded expired, or open
   * and past `expiresAt` + UPLOAD_EXPIRY_GRACE_MS. Set by `getUploadSession`; false elsewhere.
   */
  readonly purgeable: boolean;
  /** With status `completed`: the file the session became. */
  readonly fileId: string | null;
  /** With status `completing`: the completion running (not sent to data planes except by `beginUploadCompletion`). */
  readonly completionId: string | null;
}

/** A packages row joined with its retention expiry. */
export type PackageRow = Selectable<PackagesTable> & { readonly expires_at: Date | null };

/** Maps a packages row to a record. */
export function toPackageRecord(row: PackageRow): PackageRecord {
  return {
    packageId: row.package_id,
    tenant: row.tenant,
    producer: row.producer,
    subject: row.subject,
    retentionClass: row.retention_class,
    status: row.status,
    metadata: row.metadata as JsonObject,
    manifestDigest: row.manifest_digest,
    fileCount: row.file_count,
    totalBytes: row.total_bytes,
    createdAt: formatTimestamp(row.created_at),
    updatedAt: formatTimestamp(row.updated_at),
    finalizedAt: row.finalized_at === null ? null : formatTimestamp(row.finalized_at),
    expiresAt: row.expires_at === null ? null : formatTimestamp(row.expires_at),
  };
}

/** Maps a files row to a record. */
export function toFileRecord(r: Selectable<FilesTable>): FileRecord {
  return {
    fileId: r.file_id,
    packageId: r.package_id,
    relativePath: r.relative_path,
    size: r.size,
    mediaType: r.media_type,
    blake3: r.digest_primary,
    sha256: r.digest_sha256,
    createdAt: formatTimestamp(r.created_at),
  };
}

/** Maps an upload_sessions row to a record. */
export function toUploadSessionRecord(r: Selectable<UploadSessionsTable>): UploadSessionRecord {
  return {
    uploadId: r.upload_id,
    packageId: r.package_id,
    relativePath: r.relative_path,
    mediaType: r.media_type ?? 'application/octet-stream',
    expectedSize: r.expected_size,
    expectedSha256: r.expected_sha256,
    expectedBlake3: r.expected_blake3,
    replace: r.replace,
    status: r.status,
    stagingKey: r.staging_key,
    backendId: r.backend_id ?? '',
    dataPlaneId: r.data_plane_id,
    createdAt: formatTimestamp(r.created_at),
    expiresAt: formatTimestamp(r.expires_at),
    purgeable: r.status === 'expired',
    fileId: r.file_id,
    completionId: r.completion_id,
  };
}

/** Orders strings by UTF-16 code units (the manifest's path order), independent of locale. */
export function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
