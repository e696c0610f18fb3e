/**
 * Copies the event log from one database to another, row for row (sequence, type, time, payload,
 * hashes unchanged), so the target's chain verifies with the same head hash. This is how a
 * deployment moves between PGlite and PostgreSQL (or between two PostgreSQL servers): copy the log,
 * then rebuild the views on the target with replay — the log is the source of truth (ADR 0005).
 *
 * Resumable: when the target already holds a prefix of the source's log (its head event has the
 * same sequence and hash as the source's event at that sequence), only the rest is copied, so an
 * operator can copy while the source is live and catch up after stopping it. A target whose log is
 * not a prefix of the source's is refused. Each batch is one transaction on the target that holds the
 * log head (so a control plane writing to the target at the same time is detected, not interleaved).
 */
import type { Kysely } from 'kysely';
import { CodedError } from '../../core/errors/coded-error.ts';
import type { Schema } from '../db/schema.ts';
import { verifyEventChain } from './audit.ts';
import { readEvents } from './event-log.ts';

/** Stable codes of copy failures. */
export type CopyLogErrorCode =
  /** The source log fails `audit verify`: copy nothing. */
  | 'source-corrupt'
  /** The target holds events that are not a prefix of the source's log. */
  | 'target-diverged'
  /** Something else appended to the target while copying. */
  | 'target-busy';

/** A copy failure. */
export class CopyLogError extends CodedError<CopyLogErrorCode> {
  override readonly name = 'CopyLogError';
}

/** What a copy did. */
export interface CopyLogResult {
  /** Events already on the target before the copy (a resumed copy). */
  readonly alreadyPresent: number;
  /** Events copied now. */
  readonly copied: number;
  /** The target's head sequence afterwards (equal to the source's head when the copy started). */
  readonly head: number;
  /** The hash of that head event. */
  readonly headHash: string;
}

/** Options of a copy. */
export interface CopyLogOptions {
  /** Events per target transaction (default 1000). */
  readonly batch?: number;
  /** Progress after each batch. */
  readonly onProgress?: (copied: number, sourceHead: number) => void;
  /** Stops between batches. */
  readonly signal?: AbortSignal;
}

/** Copies `source`'s log into `target` (see the module comment). Neither database's views change. */
export async function copyEventLog(source: Kysely<Schema>, target: Kysely<Schema>, options: CopyLogOptions = {}): Promise<CopyLogResult> {
  const audit = await verifyEventChain(source);
  if (!audit.ok) throw new CopyLogError('source-corrupt', `the source log fails verification at sequence ${audit.sequence} (${audit.reason}): ${audit.detail}`);
  const sourceHead = audit.checked;
  const targetHead = await target.selectFrom('event_head').select(['last_sequence', 'last_hash']).where('id', '=', 1).executeTakeFirstOrThrow();
  const start = targetHead.last_sequence;
  if (start > sourceHead) throw new CopyLogError('target-diverged', `the target log is longer (${start} events) than the source's (${sourceHead})`);
  if (start > 0) {
    const [match] = await readEvents(source, { after: start - 1, limit: 1 });
    if (match === undefined || match.hash !== targetHead.last_hash) {
      throw new CopyLogError('target-diverged', `the target's event ${start} (hash ${targetHead.last_hash}) is not the source's (${match?.hash ?? 'none'}): the target is not a copy of this source; use an empty database`);
    }
  }
  let after = start;
  let headHash = targetHead.last_hash;
  while (after < sourceHead) {
    options.signal?.throwIfAborted();
    const batch = await readEvents(source, { after, upTo: sourceHead, limit: options.batch ?? 1000 });
    if (batch.length === 0) break;
    await target.transaction().execute(async (trx) => {
      const head = await trx.selectFrom('event_head').select('last_sequence').where('id', '=', 1).forUpdate().executeTakeFirstOrThrow();
      if (head.last_sequence !== after) throw new CopyLogError('target-busy', `the target's log moved to ${head.last_sequence} while copying (is a control plane running on it?)`);
      await trx
        .insertInto('events')
        .values(batch.map((e) => ({ sequence: e.sequence, event_type: e.type, occurred_at: e.occurredAt, package_id: e.packageId, payload: e.payload, prev_hash: e.prevHash, hash: e.hash })))
        .execute();
      const last = batch[batch.length - 1]!;
      await trx.updateTable('event_head').set({ last_sequence: last.sequence, last_hash: last.hash, last_occurred_at: last.occurredAt }).where('id', '=', 1).execute();
    });
    const last = batch[batch.length - 1]!;
    after = last.sequence;
    headHash = last.hash;
    options.onProgress?.(after - start, sourceHead);
  }
  return { alreadyPresent: start, copied: after - start, head: after, headHash };
}
