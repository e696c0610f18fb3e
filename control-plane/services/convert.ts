/**
 * Registry records ↔ protobuf messages. Pure mapping, shared by the service files.
 */
import { create } from '@bufbuild/protobuf';
import { timestampDate, timestampFromDate, type Timestamp } from '@bufbuild/protobuf/wkt';
import { parseTimestamp } from '../../core/time/clock.ts';
import type { PackageStatus as StatusText } from '../db/schema.ts';
import type { StoredEvent } from '../events/event-log.ts';
import type { FileRecord, PackageRecord, UploadSessionRecord } from '../registry/records.ts';
import { RegistryError } from '../registry/registry-error.ts';
import { EventSchema, type Event } from '../../gen/artifactstore/v1/event_pb.ts';
import { FileSchema, PackageSchema, PackageStatus, type File, type Package } from '../../gen/artifactstore/v1/package_pb.ts';
import { FileDigestsSchema } from '../../gen/artifactstore/v1/digest_pb.ts';
import { UploadSessionSchema, type UploadSession } from '../../gen/artifactstore/internal/v1/control_service_pb.ts';

const STATUS: Record<StatusText, PackageStatus> = {
  created: PackageStatus.CREATED,
  uploading: PackageStatus.UPLOADING,
  finalized: PackageStatus.FINALIZED,
  deleted: PackageStatus.DELETED,
  failed: PackageStatus.FAILED,
};

/** The status text of a proto status; undefined for UNSPECIFIED (any). */
export function statusFromProto(status: PackageStatus): StatusText | undefined {
  if (status === PackageStatus.UNSPECIFIED) return undefined;
  const found = (Object.entries(STATUS) as [StatusText, PackageStatus][]).find(([, v]) => v === status);
  if (found === undefined) throw new RegistryError('invalid-argument', `unknown package status ${status}`);
  return found[0];
}

// google.protobuf.Timestamp's own range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z.
const MIN_TIMESTAMP_SECONDS = -62_135_596_800n;
const MAX_TIMESTAMP_SECONDS = 253_402_300_799n;

/**
 * A request's Timestamp as a Date, or `invalid-argument` naming `field` when it is not one
 * (nanos outside 0..999,999,999, or seconds outside years 1–9999, as google/protobuf/timestamp.proto
 * defines). Without this, 1.5 s of nanos were accepted as such and a year-10000 time failed as `internal`.
 */
export function requestTime(field: string, value: Timestamp): Date {
  if (!Number.isInteger(value.nanos) || value.nanos < 0 || value.nanos > 999_999_999) throw new RegistryError('invalid-argument', `${field}: nanos must be 0 to 999,999,999 (got ${value.nanos})`);
  if (value.seconds < MIN_TIMESTAMP_SECONDS || value.seconds > MAX_TIMESTAMP_SECONDS) throw new RegistryError('invalid-argument', `${field}: must be from 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z`);
  return timestampDate(value);
}

function ts(text: string): Timestamp {
  return timestampFromDate(parseTimestamp(text));
}

/** A package record as a message. */
export function packageToProto(p: PackageRecord): Package {
  return create(PackageSchema, {
    packageId: p.packageId,
    producer: p.producer,
    subject: p.subject,
    retentionClass: p.retentionClass,
    status: STATUS[p.status],
    metadata: p.metadata as Package['metadata'],
    manifestDigest: p.manifestDigest ?? '',
    fileCount: BigInt(p.fileCount),
    totalBytes: BigInt(p.totalBytes),
    createdAt: ts(p.createdAt),
    updatedAt: ts(p.updatedAt),
    ...(p.finalizedAt === null ? {} : { finalizedAt: ts(p.finalizedAt) }),
    ...(p.expiresAt === null ? {} : { expiresAt: ts(p.expiresAt) }),
  });
}

/** A file record as a message. */
export function fileToProto(f: FileRecord): File {
  return create(FileSchema, {
    fileId: f.fileId,
    packageId: f.packageId,
    relativePath: f.relativePath,
    mediaType: f.mediaType,
    digests: create(FileDigestsSchema, { blake3: f.blake3, sha256: f.sha256, size: BigInt(f.size) }),
    createdAt: ts(f.createdAt),
  });
}

/** A stored event as a message (payload bytes unchanged). */
export function eventToProto(e: StoredEvent): Event {
  return create(EventSchema, {
    sequence: BigInt(e.sequence),
    type: e.type,
    occurredAt: ts(e.occurredAt),
    payload: e.payload,
    prevHash: e.prevHash,
    hash: e.hash,
    packageId: e.packageId ?? '',
  });
}

/** An upload session record as a message. */
export function uploadSessionToProto(s: UploadSessionRecord): UploadSession {
  return create(UploadSessionSchema, {
    uploadId: s.uploadId,
    packageId: s.packageId,
    relativePath: s.relativePath,
    mediaType: s.mediaType,
    ...(s.expectedSize === null ? {} : { expectedSize: BigInt(s.expectedSize) }),
    expectedSha256: s.expectedSha256 ?? '',
    expectedBlake3: s.expectedBlake3 ?? '',
    replace: s.replace,
    status: s.status,
    stagingKey: s.stagingKey,
    backendId: s.backendId,
    expiresAt: ts(s.expiresAt),
    purgeable: s.purgeable,
    fileId: s.fileId ?? '',
  });
}

/** A uint64 from the wire as a safe JS number (sizes, sequences); invalid-argument beyond 2^53. */
export function safeNumber(field: string, value: bigint): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new RegistryError('invalid-argument', `${field} is too large`);
  return Number(value);
}
