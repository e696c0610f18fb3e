/**
 * The event hash chain. Each event's hash is BLAKE3 over the canonical CBOR array
 *
 *   [prev_hash (32-byte byte string), sequence (uint), type (text), occurred_at (text), payload (byte string)]
 *
 * where occurred_at is the fixed-width RFC 3339 UTC millisecond timestamp and payload is the exact
 * canonical-CBOR payload bytes stored in the row. The first event chains from GENESIS_HASH (32 zero
 * bytes). Changing this function changes the meaning of every stored hash: it is versioned by the
 * event type prefix (`v1.`) and may only ever gain a new version beside it (docs/adr/0005-event-log.md).
 */
import { blake3Hex } from '../../core/identity/blake3-oneshot.ts';
import { encodeCanonical } from '../../core/cbor/canonical.ts';
import { Digest } from '../../core/identity/digest.ts';

/** The `prev_hash` of sequence 1. */
export const GENESIS_HASH = `blake3:${'0'.repeat(64)}`;

/** The fields an event hash covers. */
export interface EventHashInput {
  readonly prevHash: string;
  readonly sequence: number;
  readonly type: string;
  readonly occurredAt: string;
  readonly payload: Uint8Array;
}

/** The canonical bytes hashed for one event. */
export function eventHashPreimage(input: EventHashInput): Uint8Array {
  const prev = Digest.parse(input.prevHash);
  if (prev.algorithm !== 'blake3') throw new Error('event chain hashes are BLAKE3');
  return encodeCanonical([prev.bytes(), input.sequence, input.type, input.occurredAt, input.payload]);
}

/** Computes an event's hash as a `blake3:<hex>` content address. */
export function computeEventHash(input: EventHashInput): string {
  return `blake3:${blake3Hex(eventHashPreimage(input))}`;
}
