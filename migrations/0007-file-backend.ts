/**
 * Files remember the backend their `v1.file.added` event stored them on (`files.backend_id`), so a
 * package's manifest receipts can be built from the package's own files: which backend this package's
 * bytes went to, and when this package recorded them. Before, receipts came from `storage_locations`,
 * which is shared by every tenant holding the same content: its `stored_at` (and backends) told one
 * tenant when another had stored the same bytes.
 */
import { sql, type Kysely } from 'kysely';
import { decodeCanonical } from '../core/cbor/canonical.ts';

/** Rows per UPDATE … FROM (VALUES …). */
const CHUNK = 500;

/** Adds `files.backend_id`, filled from each file's `v1.file.added` event exactly as the projector now writes it. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are schema-agnostic by design.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('files').addColumn('backend_id', 'text').execute();
  const added = await db.selectFrom('events').select('payload').where('event_type', '=', 'v1.file.added').orderBy('sequence').execute();
  const pairs = (added as { payload: Uint8Array }[]).map(({ payload }) => {
    const p = decodeCanonical(payload) as { file_id: string; storage: { backend_id: string } };
    return [p.file_id, p.storage.backend_id] as const;
  });
  for (let i = 0; i < pairs.length; i += CHUNK) {
    const rows = pairs.slice(i, i + CHUNK).map(([fileId, backendId]) => sql`(${fileId}, ${backendId})`);
    await sql`UPDATE files SET backend_id = v.backend_id FROM (VALUES ${sql.join(rows)}) AS v(file_id, backend_id) WHERE files.file_id = v.file_id`.execute(db);
  }
  await sql`ALTER TABLE files ALTER COLUMN backend_id SET NOT NULL`.execute(db);
}

/** Drops the column again. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are schema-agnostic by design.
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('files').dropColumn('backend_id').execute();
}
