/**
 * Files remember the backend their `v1.file.added` event stored them on (`files.backend_id`), so a
 * package's manifest receipts can be built from the package's own files: which backend this package's
 * bytes went to, and when this package recorded them. Before, receipts came from `storage_locations`,
 * which is shared by every tenant holding the same content: its `stored_at` (and backends) told one
 * tenant when another had stored the same bytes.
 */
import { sql, type Kysely } from 'kysely';
import { decodeCanonical } from '../core/cbor/canonical.ts';

/** Events read, and rows updated, per step. */
const CHUNK = 500;

/** Adds `files.backend_id`, filled from each file's `v1.file.added` event exactly as the projector now writes it. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are schema-agnostic by design.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('files').addColumn('backend_id', 'text').execute();
  // Page by page through the log, so a large store is not read into memory at once.
  for (let after = 0; ; ) {
    const added = (await db
      .selectFrom('events')
      .select(['sequence', 'payload'])
      .where('event_type', '=', 'v1.file.added')
      .where('sequence', '>', after)
      .orderBy('sequence')
      .limit(CHUNK)
      .execute()) as { sequence: number | string; payload: Uint8Array }[];
    if (added.length === 0) break;
    const rows = added.map(({ payload }) => {
      const p = decodeCanonical(payload) as { file_id: string; storage: { backend_id: string } };
      return sql`(${p.file_id}, ${p.storage.backend_id})`;
    });
    await sql`UPDATE files SET backend_id = v.backend_id FROM (VALUES ${sql.join(rows)}) AS v(file_id, backend_id) WHERE files.file_id = v.file_id`.execute(db);
    after = Number(added.at(-1)?.sequence);
  }
  await sql`ALTER TABLE files ALTER COLUMN backend_id SET NOT NULL`.execute(db);
}

/** Drops the column again. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are schema-agnostic by design.
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('files').dropColumn('backend_id').execute();
}
