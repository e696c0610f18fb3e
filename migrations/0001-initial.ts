/**
 * Initial schema: the event log, its head row, and the materialised views rebuilt from it.
 *
 * Typed against `Kysely<any>` on purpose: a migration describes the schema as it was when written and
 * must never follow later changes to the TypeScript schema types. Every statement runs unchanged on
 * PostgreSQL 15 (the server) and PGlite (PostgreSQL 18).
 */
import { sql, type Kysely } from 'kysely';

/** Content address of "no previous event": the chain starts from 32 zero bytes. */
const GENESIS_HASH = `blake3:${'0'.repeat(64)}`;

/** Applies the initial schema. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are schema-agnostic by design.
export async function up(db: Kysely<any>): Promise<void> {
  // --- event log -------------------------------------------------------------------------------
  // Singleton row holding the log head. Appenders lock it (UPDATE ... RETURNING) inside their
  // transaction, so sequences are allocated gaplessly and become visible in commit order.
  await db.schema
    .createTable('event_head')
    .addColumn('id', 'smallint', (c) => c.primaryKey().check(sql`id = 1`))
    .addColumn('last_sequence', 'bigint', (c) => c.notNull())
    .addColumn('last_hash', 'text', (c) => c.notNull())
    .addColumn('last_occurred_at', 'timestamptz')
    .execute();
  await db.insertInto('event_head').values({ id: 1, last_sequence: 0, last_hash: GENESIS_HASH, last_occurred_at: null }).execute();

  await db.schema
    .createTable('events')
    .addColumn('sequence', 'bigint', (c) => c.primaryKey().check(sql`sequence >= 1`))
    .addColumn('event_type', 'text', (c) => c.notNull())
    .addColumn('occurred_at', 'timestamptz', (c) => c.notNull())
    .addColumn('package_id', 'text')
    .addColumn('payload', 'bytea', (c) => c.notNull())
    .addColumn('prev_hash', 'text', (c) => c.notNull())
    .addColumn('hash', 'text', (c) => c.notNull().unique())
    .execute();
  await db.schema.createIndex('events_package_idx').on('events').columns(['package_id', 'sequence']).execute();
  await db.schema.createIndex('events_type_idx').on('events').columns(['event_type', 'sequence']).execute();

  // The log is insert-only: the database itself refuses to rewrite or delete an event.
  await sql`
    CREATE FUNCTION events_insert_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'events are insert-only (% refused)', TG_OP USING ERRCODE = 'restrict_violation';
    END;
    $$`.execute(db);
  await sql`CREATE TRIGGER events_no_update_delete BEFORE UPDATE OR DELETE ON events FOR EACH ROW EXECUTE FUNCTION events_insert_only()`.execute(db);
  await sql`CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events FOR EACH STATEMENT EXECUTE FUNCTION events_insert_only()`.execute(db);

  // --- configuration seeded by migrations (not a view) ------------------------------------------
  await db.schema
    .createTable('retention_classes')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('description', 'text', (c) => c.notNull())
    .addColumn('default_retention_days', 'integer', (c) => c.check(sql`default_retention_days IS NULL OR default_retention_days > 0`))
    .addColumn('sort_order', 'integer', (c) => c.notNull())
    .execute();
  await db
    .insertInto('retention_classes')
    .values([
      { name: 'transient', description: 'Scratch output kept briefly for debugging.', default_retention_days: 30, sort_order: 1 },
      { name: 'raw-evidence', description: 'Raw tool output behind an assessment (logs, TCK reports).', default_retention_days: 365, sort_order: 2 },
      { name: 'summary-evidence', description: 'Scorecards and summaries derived from raw evidence.', default_retention_days: 1095, sort_order: 3 },
      { name: 'release-evidence', description: 'Evidence backing a release decision.', default_retention_days: 3650, sort_order: 4 },
      { name: 'permanent-record', description: 'Never expires and is never eligible for deletion.', default_retention_days: null, sort_order: 5 },
    ])
    .execute();

  // --- materialised views (rebuilt by replay) ---------------------------------------------------
  await db.schema
    .createTable('packages')
    .addColumn('package_id', 'text', (c) => c.primaryKey())
    .addColumn('tenant', 'text', (c) => c.notNull())
    .addColumn('producer', 'text', (c) => c.notNull())
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('retention_class', 'text', (c) => c.notNull().references('retention_classes.name'))
    .addColumn('status', 'text', (c) => c.notNull().check(sql`status IN ('created', 'uploading', 'finalized', 'deleted', 'failed')`))
    .addColumn('metadata', 'jsonb', (c) => c.notNull())
    .addColumn('manifest_digest', 'text')
    .addColumn('file_count', 'integer', (c) => c.notNull())
    .addColumn('total_bytes', 'bigint', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
    .addColumn('finalized_at', 'timestamptz')
    .addColumn('last_sequence', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('packages_tenant_producer_idx').on('packages').columns(['tenant', 'producer', 'package_id']).execute();
  await db.schema.createIndex('packages_tenant_subject_idx').on('packages').columns(['tenant', 'subject', 'package_id']).execute();
  await db.schema.createIndex('packages_tenant_class_idx').on('packages').columns(['tenant', 'retention_class', 'package_id']).execute();
  await db.schema.createIndex('packages_tenant_status_idx').on('packages').columns(['tenant', 'status', 'package_id']).execute();
  await sql`CREATE INDEX packages_metadata_idx ON packages USING gin (metadata jsonb_path_ops)`.execute(db);

  await db.schema
    .createTable('files')
    .addColumn('file_id', 'text', (c) => c.primaryKey())
    .addColumn('package_id', 'text', (c) => c.notNull().references('packages.package_id'))
    .addColumn('relative_path', 'text', (c) => c.notNull())
    .addColumn('size', 'bigint', (c) => c.notNull().check(sql`size >= 0`))
    .addColumn('media_type', 'text', (c) => c.notNull())
    .addColumn('digest_algorithm', 'text', (c) => c.notNull())
    .addColumn('digest_primary', 'text', (c) => c.notNull())
    .addColumn('digest_sha256', 'text', (c) => c.notNull())
    .addColumn('content_address', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('created_sequence', 'bigint', (c) => c.notNull())
    .addUniqueConstraint('files_package_path_key', ['package_id', 'relative_path'])
    .execute();
  await db.schema.createIndex('files_content_address_idx').on('files').column('content_address').execute();

  await db.schema
    .createTable('storage_locations')
    .addColumn('content_address', 'text', (c) => c.notNull())
    .addColumn('backend_id', 'text', (c) => c.notNull())
    .addColumn('storage_key', 'text', (c) => c.notNull())
    .addColumn('size', 'bigint', (c) => c.notNull())
    .addColumn('retrieval_tier', 'text', (c) => c.notNull())
    .addColumn('restore_status', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull().check(sql`status IN ('stored', 'verified', 'failed')`))
    .addColumn('stored_at', 'timestamptz', (c) => c.notNull())
    .addColumn('verified_at', 'timestamptz')
    .addPrimaryKeyConstraint('storage_locations_pkey', ['content_address', 'backend_id'])
    .execute();

  await db.schema
    .createTable('retention_state')
    .addColumn('package_id', 'text', (c) => c.primaryKey().references('packages.package_id'))
    .addColumn('retention_class', 'text', (c) => c.notNull().references('retention_classes.name'))
    .addColumn('expires_at', 'timestamptz')
    .addColumn('active_holds', 'integer', (c) => c.notNull().check(sql`active_holds >= 0`))
    .addColumn('deletion_eligible', 'boolean', (c) => c.notNull())
    .addColumn('eligible_since', 'timestamptz')
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('retention_state_expires_idx').on('retention_state').column('expires_at').execute();

  await db.schema
    .createTable('holds')
    .addColumn('hold_id', 'text', (c) => c.primaryKey())
    .addColumn('package_id', 'text', (c) => c.notNull().references('packages.package_id'))
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('applied_at', 'timestamptz', (c) => c.notNull())
    .addColumn('released_at', 'timestamptz')
    .addColumn('released_by', 'text')
    .addColumn('release_reason', 'text')
    .execute();
  await db.schema.createIndex('holds_package_idx').on('holds').column('package_id').execute();

  await db.schema
    .createTable('upload_sessions')
    .addColumn('upload_id', 'text', (c) => c.primaryKey())
    .addColumn('package_id', 'text', (c) => c.notNull().references('packages.package_id'))
    .addColumn('relative_path', 'text', (c) => c.notNull())
    .addColumn('expected_size', 'bigint')
    .addColumn('expected_blake3', 'text')
    .addColumn('expected_sha256', 'text')
    .addColumn('media_type', 'text')
    .addColumn('replace', 'boolean', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull().check(sql`status IN ('open', 'completed', 'aborted', 'expired')`))
    .addColumn('staging_key', 'text', (c) => c.notNull())
    .addColumn('data_plane_id', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('upload_sessions_package_idx').on('upload_sessions').column('package_id').execute();
}

/** Drops everything `up` created. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are schema-agnostic by design.
export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ['upload_sessions', 'holds', 'retention_state', 'storage_locations', 'files', 'packages', 'retention_classes', 'events', 'event_head']) {
    await db.schema.dropTable(table).execute();
  }
  await sql`DROP FUNCTION events_insert_only()`.execute(db);
}
