/**
 * The retention history of a package as one document: a list of `{ sequence, type, occurred_at,
 * payload }` in sequence order, `payload` being the event's decoded canonical CBOR map. Served as
 * RFC 8785 JSON (the default) or canonical CBOR; both are deterministic, so the same history always
 * yields the same bytes. Retention payloads hold only text, null and integers, so the JSON form is
 * lossless.
 */
import canonicalize from 'canonicalize';
import { decodeCanonical, encodeCanonical, type CborValue } from '../../core/cbor/canonical.ts';
import type { StoredEvent } from '../events/event-log.ts';

/** A rendered history document. */
export interface RenderedHistory {
  readonly bytes: Uint8Array;
  readonly contentType: 'application/json' | 'application/cbor';
}

/** Renders `events` (already filtered and ordered) as `format`. */
export function renderRetentionHistory(events: readonly StoredEvent[], format: 'json' | 'cbor'): RenderedHistory {
  const doc: CborValue[] = events.map((e) => ({ sequence: e.sequence, type: e.type, occurred_at: e.occurredAt, payload: decodeCanonical(e.payload) }));
  if (format === 'cbor') return { bytes: encodeCanonical(doc), contentType: 'application/cbor' };
  const text = canonicalize(doc);
  if (text === undefined) throw new TypeError('history has no JSON form');
  return { bytes: new TextEncoder().encode(text), contentType: 'application/json' };
}
