/**
 * Event type names and the package each event concerns. Names are versioned (`v1.`) and never reused;
 * a changed payload shape gets a new name. Payload shapes are documented where they are written
 * (the registry) and read (the projector).
 */
import { decodeCanonical, type CborValue } from '../../core/cbor/canonical.ts';

/** Every event type this version writes. */
export const EVENT_TYPES = [
  'v1.package.created',
  'v1.retention.default_applied',
  'v1.file.added',
  'v1.package.finalized',
  'v1.upload.created',
  'v1.upload.completing',
  'v1.upload.completion_failed',
  'v1.upload.completed',
  'v1.upload.aborted',
  'v1.upload.expired',
  'v1.retention.extended',
  'v1.retention.hold_applied',
  'v1.retention.hold_released',
  'v1.retention.deletion_eligible',
  'v1.retention.deletion_ineligible',
  'v1.storage.location_verified',
  'v1.storage.location_failed',
] as const;

/** Prefix shared by every retention event (what GetRetentionHistory returns). */
export const RETENTION_EVENT_PREFIX = 'v1.retention.';

/** One of the known event types. */
export type EventType = (typeof EVENT_TYPES)[number];

/** True when `type` is a known event type. */
export function isEventType(type: string): type is EventType {
  return (EVENT_TYPES as readonly string[]).includes(type);
}

/** A decoded CBOR map. */
export type CborMap = { readonly [key: string]: CborValue };

/** Narrows a CBOR value to a map, or throws naming `what`. */
export function asMap(value: CborValue | undefined, what: string): CborMap {
  if (value === null || value === undefined || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array) {
    throw new TypeError(`${what} must be a map`);
  }
  return value as CborMap;
}

/**
 * The package an event concerns, read from its payload: `package_id` at the top level, or
 * `package.package_id` for payloads that are manifests. Null when the event concerns no package.
 * Used when appending (to fill the indexed column) and by audit (to check the column was not edited).
 */
export function packageIdOf(payload: Uint8Array): string | null {
  return packageIdIn(decodeCanonical(payload));
}

/** `packageIdOf` for a payload already decoded. */
export function packageIdIn(payload: CborValue): string | null {
  const map = asMap(payload, 'event payload');
  const direct = map['package_id'];
  if (typeof direct === 'string') return direct;
  const pkg = map['package'];
  if (pkg !== undefined && pkg !== null && typeof pkg === 'object' && !Array.isArray(pkg) && !(pkg instanceof Uint8Array)) {
    const nested = (pkg as CborMap)['package_id'];
    if (typeof nested === 'string') return nested;
  }
  return null;
}
