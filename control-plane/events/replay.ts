/**
 * Replay: rebuild every view table from the event log with the projector the live path uses.
 * Runs in one transaction holding the log head, so no event is appended while views are rebuilt and
 * a failure leaves the previous views untouched.
 */
import { sql, type Kysely } from 'kysely';
import { VIEW_TABLES, type Schema } from '../db/schema.ts';
import { readEvents } from './event-log.ts';
import { applyEvents } from './projector.ts';

/** Progress report for long replays. */
export type ReplayProgress = (applied: number, head: number) => void;

/** What a replay did. */
export interface ReplayResult {
  /** Number of events applied. */
  readonly events: number;
  /** Sequence of the last event applied (0 when the log is empty). */
  readonly head: number;
}

/** Empties the views and re-applies every event in order. */
export async function replay(db: Kysely<Schema>, options: { onProgress?: ReplayProgress; batch?: number } = {}): Promise<ReplayResult> {
  return db.transaction().execute(async (trx) => {
    const head = await trx.selectFrom('event_head').select('last_sequence').where('id', '=', 1).forUpdate().executeTakeFirstOrThrow();
    for (const table of VIEW_TABLES) await trx.deleteFrom(table).execute();
    let after = 0;
    let applied = 0;
    for (;;) {
      const batch = await readEvents(trx, { after, limit: options.batch ?? 1000 });
      if (batch.length === 0) break;
      for (const event of batch) {
        if (event.sequence !== after + 1) throw new Error(`event log has a gap before sequence ${event.sequence}`);
        after = event.sequence;
      }
      // The live writer's batch path too: runs of file additions go in with multi-row inserts.
      await applyEvents(trx, batch);
      applied += batch.length;
      options.onProgress?.(applied, head.last_sequence);
    }
    if (after !== head.last_sequence) throw new Error(`event log ends at ${after} but its head says ${head.last_sequence}`);
    return { events: applied, head: after };
  });
}

/**
 * A text dump of every view table, rows ordered by their JSON text: two databases hold identical
 * views exactly when their dumps are equal. Used by tests and by `artifactstore replay --check`.
 */
export async function dumpViews(db: Kysely<Schema>): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const table of VIEW_TABLES) {
    const rows = await sql<{ j: string }>`SELECT row_to_json(t)::text AS j FROM ${sql.table(table)} t ORDER BY 1`.execute(db);
    out[table] = rows.rows.map((r) => r.j);
  }
  return out;
}
