/**
 * Upload sessions gain the `completing` status (`v1.upload.completing`: a completion has begun, the
 * session takes no more chunks, and only the file recorded for it can close it as completed), the
 * `completion_id` of the completion running, and the `file_id` a completed session became. The sweep's partial index covers completing sessions too, since
 * a completion whose data plane died leaves one behind for the sweep to expire.
 */
import { sql, type Kysely } from 'kysely';
import { decodeCanonical } from '../core/cbor/canonical.ts';

/** Widens the status check, adds `file_id` (filled from existing `v1.upload.completed` events), rebuilds the sweep index. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are schema-agnostic by design.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE upload_sessions DROP CONSTRAINT upload_sessions_status_check`.execute(db);
  await sql`ALTER TABLE upload_sessions ADD CONSTRAINT upload_sessions_status_check CHECK (status IN ('open', 'completing', 'completed', 'aborted', 'expired'))`.execute(db);
  await db.schema.alterTable('upload_sessions').addColumn('file_id', 'text').execute();
  await db.schema.alterTable('upload_sessions').addColumn('completion_id', 'text').execute();
  // As the projector now writes it, so a replay rebuilds exactly this view.
  const completed = await db.selectFrom('events').select('payload').where('event_type', '=', 'v1.upload.completed').execute();
  for (const { payload } of completed as { payload: Uint8Array }[]) {
    const p = decodeCanonical(payload) as { upload_id: string; file_id: string };
    await db.updateTable('upload_sessions').set({ file_id: p.file_id }).where('upload_id', '=', p.upload_id).execute();
  }
  await sql`DROP INDEX upload_sessions_open_idx`.execute(db);
  await sql`CREATE INDEX upload_sessions_open_idx ON upload_sessions (upload_id, expires_at) WHERE status IN ('open', 'completing')`.execute(db);
}

/** Restores migration 0005's shape (a completing session cannot be expressed there: refused). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are schema-agnostic by design.
export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP INDEX upload_sessions_open_idx`.execute(db);
  await sql`CREATE INDEX upload_sessions_open_idx ON upload_sessions (upload_id, expires_at) WHERE status = 'open'`.execute(db);
  await db.schema.alterTable('upload_sessions').dropColumn('completion_id').execute();
  await db.schema.alterTable('upload_sessions').dropColumn('file_id').execute();
  await sql`ALTER TABLE upload_sessions DROP CONSTRAINT upload_sessions_status_check`.execute(db);
  await sql`ALTER TABLE upload_sessions ADD CONSTRAINT upload_sessions_status_check CHECK (status IN ('open', 'completed', 'aborted', 'expired'))`.execute(db);
}
