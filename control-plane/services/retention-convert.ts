/**
 * Retention records ↔ protobuf messages. Pure mapping for the RetentionService handlers.
 */
import { create } from '@bufbuild/protobuf';
import { timestampFromDate, type Timestamp } from '@bufbuild/protobuf/wkt';
import { parseTimestamp } from '../../core/time/clock.ts';
import type { HoldRecord, RetentionRecord } from '../registry/retention.ts';
import { HoldSchema, RetentionStateSchema, type Hold, type RetentionState } from '../../gen/artifactstore/v1/retention_service_pb.ts';

function ts(text: string): Timestamp {
  return timestampFromDate(parseTimestamp(text));
}

/** A hold record as a message. */
export function holdToProto(h: HoldRecord): Hold {
  return create(HoldSchema, {
    holdId: h.holdId,
    reason: h.reason,
    actor: h.actor,
    appliedAt: ts(h.appliedAt),
    ...(h.releasedAt === null ? {} : { releasedAt: ts(h.releasedAt) }),
    releasedBy: h.releasedBy ?? '',
    releaseReason: h.releaseReason ?? '',
  });
}

/** A retention record as a message. */
export function retentionToProto(r: RetentionRecord): RetentionState {
  return create(RetentionStateSchema, {
    packageId: r.packageId,
    retentionClass: r.retentionClass,
    ...(r.expiresAt === null ? {} : { expiresAt: ts(r.expiresAt) }),
    holds: r.holds.map(holdToProto),
    deletionEligible: r.deletionEligible,
    ...(r.eligibleSince === null ? {} : { eligibleSince: ts(r.eligibleSince) }),
  });
}
