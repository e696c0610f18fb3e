/**
 * The retention sweep looks for packages that are not yet eligible, have no active hold and expire
 * at or before a given time; a partial index keeps that scan proportional to the candidates instead
 * of to every package ever kept. No table changes: retention state and holds already exist (0001).
 */
import { sql, type Kysely } from 'kysely';

/** Creates the partial index the sweep uses. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are schema-agnostic by design.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`CREATE INDEX retention_state_sweep_idx ON retention_state (expires_at, package_id) WHERE NOT deletion_eligible AND active_holds = 0 AND expires_at IS NOT NULL`.execute(db);
}

/** Drops the index `up` created. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are schema-agnostic by design.
export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP INDEX retention_state_sweep_idx`.execute(db);
}
