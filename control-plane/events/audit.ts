/**
 * `audit verify`: recompute the hash chain from sequence 1 and name the first event that does not
 * check out. Detects an edited payload, type, timestamp or hash, a deleted or inserted row (gap or
 * broken link), a package_id column that disagrees with its payload, and a head row out of step.
 */
import type { Kysely } from 'kysely';
import { decodeCanonical } from '../../core/cbor/canonical.ts';
import type { Schema } from '../db/schema.ts';
import { computeEventHash, GENESIS_HASH } from './event-hash.ts';
import { readEvents } from './event-log.ts';
import { packageIdOf } from './event-types.ts';

/** Why an event failed verification. */
export type AuditFailureReason = 'sequence-gap' | 'prev-hash-mismatch' | 'hash-mismatch' | 'payload-not-canonical' | 'package-id-mismatch' | 'head-mismatch';

/** The result of verifying the chain. */
export type AuditResult =
  | { readonly ok: true; readonly checked: number; readonly headHash: string }
  | { readonly ok: false; readonly checked: number; readonly sequence: number; readonly reason: AuditFailureReason; readonly detail: string };

/** Verifies the whole chain; stops at the first bad event. */
export async function verifyEventChain(db: Kysely<Schema>, options: { batch?: number; onProgress?: (checked: number) => void } = {}): Promise<AuditResult> {
  let expectedSequence = 1;
  let prevHash = GENESIS_HASH;
  let checked = 0;
  const fail = (sequence: number, reason: AuditFailureReason, detail: string): AuditResult => ({ ok: false, checked, sequence, reason, detail });
  for (;;) {
    const batch = await readEvents(db, { after: expectedSequence - 1, limit: options.batch ?? 1000 });
    if (batch.length === 0) break;
    for (const event of batch) {
      if (event.sequence !== expectedSequence) return fail(expectedSequence, 'sequence-gap', `expected sequence ${expectedSequence}, found ${event.sequence}`);
      if (event.prevHash !== prevHash) return fail(event.sequence, 'prev-hash-mismatch', `prev_hash ${event.prevHash} does not match the previous event's hash ${prevHash}`);
      try {
        decodeCanonical(event.payload);
      } catch (err) {
        return fail(event.sequence, 'payload-not-canonical', (err as Error).message);
      }
      let recomputed: string;
      try {
        recomputed = computeEventHash(event);
      } catch (err) {
        return fail(event.sequence, 'hash-mismatch', `cannot recompute hash: ${(err as Error).message}`);
      }
      if (recomputed !== event.hash) return fail(event.sequence, 'hash-mismatch', `stored hash ${event.hash}, recomputed ${recomputed}`);
      const pkg = packageIdOf(event.payload);
      if (pkg !== event.packageId) return fail(event.sequence, 'package-id-mismatch', `package_id column ${String(event.packageId)} but payload names ${String(pkg)}`);
      prevHash = event.hash;
      expectedSequence += 1;
      checked += 1;
    }
    options.onProgress?.(checked);
  }
  const head = await db.selectFrom('event_head').select(['last_sequence', 'last_hash']).where('id', '=', 1).executeTakeFirstOrThrow();
  if (head.last_sequence !== checked || head.last_hash !== prevHash) {
    return fail(checked + 1, 'head-mismatch', `log head says sequence ${head.last_sequence} / ${head.last_hash}, chain ends at ${checked} / ${prevHash}`);
  }
  return { ok: true, checked, headHash: prevHash };
}
