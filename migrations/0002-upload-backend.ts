/**
 * Upload sessions remember which storage backend their parts and final object go to, so a data plane
 * resuming a session writes to the same backend the session was opened on.
 */
import type { Kysely } from 'kysely';

/** Adds `upload_sessions.backend_id` (null only for rows written before this migration). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are schema-agnostic by design.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('upload_sessions').addColumn('backend_id', 'text').execute();
}

/** Drops the column `up` added. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are schema-agnostic by design.
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('upload_sessions').dropColumn('backend_id').execute();
}
