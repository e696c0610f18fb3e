/**
 * TypeScript view of the database schema (see migrations/). `bigint` columns are parsed to JS numbers
 * by both drivers (values stay below 2^53: sizes and sequences); timestamps come back as Date.
 */
import type { ColumnType } from 'kysely';

/** A timestamptz column: read as Date, written as Date or canonical text. */
export type Timestamp = ColumnType<Date, Date | string, Date | string>;
/** A nullable timestamptz column. */
export type NullableTimestamp = ColumnType<Date | null, Date | string | null, Date | string | null>;
/** A jsonb column holding a JSON object. */
export type JsonObjectColumn = ColumnType<Record<string, unknown>, string, string>;

/** Package lifecycle states. */
export type PackageStatus = 'created' | 'uploading' | 'finalized' | 'deleted' | 'failed';

/** The singleton row holding the event log head. */
export interface EventHeadTable {
  id: number;
  last_sequence: number;
  last_hash: string;
  last_occurred_at: NullableTimestamp;
}

/** One event of the insert-only log. */
export interface EventsTable {
  sequence: number;
  event_type: string;
  occurred_at: Timestamp;
  package_id: string | null;
  payload: Uint8Array;
  prev_hash: string;
  hash: string;
}

/** Retention classes, seeded by migration. */
export interface RetentionClassesTable {
  name: string;
  description: string;
  default_retention_days: number | null;
  sort_order: number;
}

/** View: one row per package. */
export interface PackagesTable {
  package_id: string;
  tenant: string;
  producer: string;
  subject: string;
  retention_class: string;
  status: PackageStatus;
  metadata: JsonObjectColumn;
  manifest_digest: string | null;
  file_count: number;
  total_bytes: number;
  created_at: Timestamp;
  updated_at: Timestamp;
  finalized_at: NullableTimestamp;
  last_sequence: number;
}

/** View: one row per file of a package (the current file at each relative path). */
export interface FilesTable {
  file_id: string;
  package_id: string;
  relative_path: string;
  size: number;
  media_type: string;
  digest_algorithm: string;
  digest_primary: string;
  digest_sha256: string;
  content_address: string;
  /** The backend the file's `v1.file.added` event stored it on (its manifest receipt's backend). */
  backend_id: string;
  created_at: Timestamp;
  created_sequence: number;
}

/** View: where the bytes of a content address are stored. */
export interface StorageLocationsTable {
  content_address: string;
  backend_id: string;
  storage_key: string;
  size: number;
  retrieval_tier: string;
  restore_status: string;
  status: 'stored' | 'verified' | 'failed';
  stored_at: Timestamp;
  verified_at: NullableTimestamp;
}

/** View: the retention state of each package. */
export interface RetentionStateTable {
  package_id: string;
  retention_class: string;
  expires_at: NullableTimestamp;
  active_holds: number;
  deletion_eligible: boolean;
  eligible_since: NullableTimestamp;
  updated_at: Timestamp;
}

/** View: legal/operational holds. */
export interface HoldsTable {
  hold_id: string;
  package_id: string;
  reason: string;
  actor: string;
  applied_at: Timestamp;
  released_at: NullableTimestamp;
  released_by: string | null;
  release_reason: string | null;
}

/** View: resumable upload sessions. */
export interface UploadSessionsTable {
  upload_id: string;
  package_id: string;
  relative_path: string;
  expected_size: number | null;
  expected_blake3: string | null;
  expected_sha256: string | null;
  media_type: string | null;
  replace: boolean;
  status: UploadStatus;
  staging_key: string;
  data_plane_id: string | null;
  /** Backend the parts and the final object go to (migration 0002). */
  backend_id: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
  expires_at: Timestamp;
  /** With status `completed`: the file the session became (migration 0006). */
  file_id: string | null;
  /** With status `completing`: the completion running (migration 0006). */
  completion_id: string | null;
}

/** Where an upload session stands (`completing`: migration 0006). */
export type UploadStatus = 'open' | 'completing' | 'completed' | 'aborted' | 'expired';

/** The whole schema, as Kysely sees it. */
export interface Schema {
  event_head: EventHeadTable;
  events: EventsTable;
  retention_classes: RetentionClassesTable;
  packages: PackagesTable;
  files: FilesTable;
  storage_locations: StorageLocationsTable;
  retention_state: RetentionStateTable;
  holds: HoldsTable;
  upload_sessions: UploadSessionsTable;
}

/** Tables rebuilt from the event log by replay, in an order safe for deletes (children first). */
export const VIEW_TABLES = ['upload_sessions', 'holds', 'retention_state', 'storage_locations', 'files', 'packages'] as const;
