/**
 * The upload sweep looks for open sessions whose deadline has passed, in upload-id order. Sessions stay
 * in the table after they close, so a partial index over the open ones keeps that scan proportional to
 * the sessions still open instead of to every session ever opened. No table changes.
 */
import { sql, type Kysely } from 'kysely';

/** Creates the partial index the sweep uses. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are schema-agnostic by design.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`CREATE INDEX upload_sessions_open_idx ON upload_sessions (upload_id, expires_at) WHERE status = 'open'`.execute(db);
}

/** Drops the index `up` created. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are schema-agnostic by design.
export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP INDEX upload_sessions_open_idx`.execute(db);
}
