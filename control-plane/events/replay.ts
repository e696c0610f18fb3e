/**
 * Replay: rebuild every view table from the event log with the projector the live path uses.
 * Runs in one transaction holding the log head, so no event is appended while views are rebuilt and
 * a failure leaves the previous views untouched.
 */
import { sql, type Kysely } from 'kysely';
import { VIEW_TABLES, type Schema } from '../db/schema.ts';
import { readEvents } from './event-log.ts';
import { applyEvents } from './projector.ts';
import { enterReplay } from './replay-lock.ts';

/** Progress report for long replays. */
export type ReplayProgress = (applied: number, head: number) => void;

/** What a replay did. */
export interface ReplayResult {
  /** Number of events applied. */
  readonly events: number;
  /** Sequence of the last event applied (0 when the log is empty). */
  readonly head: number;
  /** With `compare`: the view tables whose rows differed from the rebuilt ones (empty when all matched). */
  readonly differing?: string[];
}

/** Options of {@link replay}. */
export interface ReplayOptions {
  readonly onProgress?: ReplayProgress;
  readonly batch?: number;
  /**
   * Also compare the views before and after, both read inside the replay's transaction once it holds
   * the log head: writers wait at the head until it commits, so a service running meanwhile cannot
   * make the two differ (read outside, a write between the two reads looked like a divergence).
   */
  readonly compare?: boolean;
}

/** Empties the views and re-applies every event in order. */
export async function replay(db: Kysely<Schema>, options: ReplayOptions = {}): Promise<ReplayResult> {
  return db.transaction().execute(async (trx) => {
    await enterReplay(trx); // writers of a running service finish first, new ones wait (replay-lock.ts)
    const head = await trx.selectFrom('event_head').select('last_sequence').where('id', '=', 1).forUpdate().executeTakeFirstOrThrow();
    const before = options.compare === true ? await dumpViews(trx) : undefined;
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
    if (before === undefined) return { events: applied, head: after };
    const rebuilt = await dumpViews(trx);
    const differing = Object.keys(rebuilt).filter((table) => JSON.stringify(rebuilt[table]) !== JSON.stringify(before[table]));
    return { events: applied, head: after, differing };
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
