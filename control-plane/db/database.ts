/**
 * Opens the registry database: embedded PGlite (the default, a directory under the data dir) or a
 * PostgreSQL server (`postgres://` URL). Both speak the same SQL through Kysely; this file is the only
 * place that knows which one is in use.
 */
import { existsSync } from 'node:fs';
import { access, mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { DURABLE_START_PARAMS, DurableNodeFS } from './durable-node-fs.ts';
import { syncTree } from '../../core/fs/sync-tree.ts';
import { Kysely, PGliteDialect, PostgresDialect, sql } from 'kysely';
import { Migrator } from 'kysely/migration';
import pg from 'pg';
import { migrationProvider } from '../../migrations/index.ts';
import type { Schema } from './schema.ts';
import { lockDirectory } from './directory-lock.ts';

/** Which engine a database handle talks to. */
export type DialectName = 'pglite' | 'postgres';

/** Where the database lives. */
export type DatabaseConfig =
  | { readonly kind: 'pglite'; /** Directory for the data files, or undefined for in-memory. */ readonly dataDir?: string }
  | { readonly kind: 'postgres'; readonly url: string; /** Schema to use (created if missing); default `public`. */ readonly schema?: string; readonly maxConnections?: number };

/** An open database. */
export interface Database {
  /** The typed query builder. */
  readonly db: Kysely<Schema>;
  /** The engine behind it. */
  readonly dialect: DialectName;
  /** Applies pending migrations (openDatabase already did); returns the names applied. */
  migrate(): Promise<readonly string[]>;
  /** Closes every connection; safe to call twice. */
  close(): Promise<void>;
}

const INT8_OID = 20;

/** int8 → number, refusing values JS cannot represent exactly rather than rounding them silently. */
function parseInt8(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new RangeError(`int8 value ${text} exceeds the safe integer range`);
  return n;
}

/** pg's parsers, with int8 parsed to a safe JS number instead of a string. */
const pgTypeParser = ((oid: number, format?: 'text' | 'binary'): unknown =>
  oid === INT8_OID ? parseInt8 : (pg.types.getTypeParser(oid, format ?? 'text') as unknown)) as typeof pg.types.getTypeParser;

/**
 * Parses a database URL or PGlite directory into a config; undefined URL means embedded PGlite. `source`
 * names where the URL came from in the error for a malformed one (a variable or a flag).
 */
export function databaseConfigFromUrl(url: string | undefined, pgliteDir: string | undefined, source = 'ARTIFACTSTORE_DATABASE_URL'): DatabaseConfig {
  if (url === undefined || url === '') return pgliteDir === undefined ? { kind: 'pglite' } : { kind: 'pglite', dataDir: pgliteDir };
  if (/^postgres(ql)?:\/\//.test(url)) return { kind: 'postgres', url };
  if (url.startsWith('pglite://')) {
    const dir = url.slice('pglite://'.length);
    return dir === '' || dir === 'memory' ? { kind: 'pglite' } : { kind: 'pglite', dataDir: dir };
  }
  throw new Error(`${source} must start with postgres://, postgresql:// or pglite:// (got ${JSON.stringify(url.replace(/\/\/[^@/]*@/, '//***@'))})`);
}

/** Options of {@link openDatabase}. */
export interface OpenOptions {
  /**
   * `migrate` (default): create the database if it is missing and bring its schema to the latest
   * migration. `require-current`: change nothing, and refuse a database that does not exist or whose
   * schema is not exactly this build's (for reading another deployment's database, e.g. a copy source).
   */
  readonly schema?: 'migrate' | 'require-current';
}

/** Opens the database and brings its schema to the latest migration (see {@link OpenOptions}). */
export async function openDatabase(config: DatabaseConfig, options: OpenOptions = {}): Promise<Database> {
  const readOnly = options.schema === 'require-current';
  if (readOnly && config.kind === 'pglite') await requireEmbeddedDatabase(config.dataDir);
  const opened = config.kind === 'pglite' ? await openPglite(config.dataDir, !readOnly) : await openPostgres(config, !readOnly);
  const schema = config.kind === 'postgres' ? config.schema : undefined;
  const handle: Database = { ...opened, migrate: () => migrateToLatest(opened.db, schema) };
  try {
    if (readOnly) await requireCurrentSchema(opened.db, schema);
    else await handle.migrate();
  } catch (err) {
    await handle.close();
    throw err;
  }
  return handle;
}

/** Throws unless `dataDir` holds an embedded (PGlite) database. */
async function requireEmbeddedDatabase(dataDir: string | undefined): Promise<void> {
  if (dataDir === undefined) throw new Error('an in-memory embedded database has no data to read');
  try {
    await access(join(dataDir, 'PG_VERSION'));
  } catch {
    throw new Error(`no embedded database at ${dataDir} (no PG_VERSION file there; a data directory keeps its database in <data dir>/pglite)`);
  }
}

/**
 * Throws unless every migration of this build, and no other, has been applied: an older schema would be
 * upgraded in place by a migration, a newer one may hold data this build cannot read.
 */
export async function requireCurrentSchema(db: Kysely<Schema>, schema?: string): Promise<void> {
  const migrator = new Migrator({ db, provider: migrationProvider, ...(schema === undefined ? {} : { migrationTableSchema: schema }) });
  const known = await migrator.getMigrations();
  const pending = known.filter((m) => m.executedAt === undefined).map((m) => m.name);
  if (pending.length === known.length) throw new Error('the database has no artifact-store schema (no migration was ever applied to it)');
  if (pending.length > 0) throw new Error(`the database's schema is older than this build's (pending migrations: ${pending.join(', ')}); migrate it with this build first: ARTIFACTSTORE_DATABASE_URL=<its URL> artifactstore migrate`);
  const table = schema === undefined ? sql.table('kysely_migration') : sql.table(`${schema}.kysely_migration`);
  const applied = await sql<{ name: string }>`SELECT name FROM ${table}`.execute(db);
  const unknown = applied.rows.map((r) => r.name).filter((name) => !known.some((m) => m.name === name));
  if (unknown.length > 0) throw new Error(`the database's schema is newer than this build's (unknown migrations: ${unknown.join(', ')}); use a build of its version`);
}

async function openPglite(dataDir: string | undefined, create = true): Promise<Omit<Database, 'migrate'>> {
  const parsers = { [INT8_OID]: parseInt8 };
  if (dataDir === undefined) {
    const db = new Kysely<Schema>({ dialect: new PGliteDialect({ pglite: new PGlite({ parsers }) }) });
    return { db, dialect: 'pglite', close: onceAsync(() => db.destroy()) };
  }
  if (create) await mkdir(dirname(resolve(dataDir)), { recursive: true });
  const lock = await lockDirectory(resolve(dataDir));
  try {
    if (create) await mkdir(dataDir, { recursive: true });
    // Commits are made durable before they answer (durable-node-fs.ts): PGlite's defaults do not.
    const fresh = !existsSync(join(dataDir, 'PG_VERSION'));
    const pglite = new PGlite({ fs: new DurableNodeFS(dataDir), startParams: [...DURABLE_START_PARAMS], parsers });
    await pglite.waitReady;
    // A new database is unpacked from PGlite's initdb image with plain writes: durable before it is used.
    if (fresh) await syncTree(dataDir);
    const db = new Kysely<Schema>({ dialect: new PGliteDialect({ pglite }) });
    return {
      db,
      dialect: 'pglite',
      close: onceAsync(async () => {
        try {
          await db.destroy();
        } finally {
          await lock.release();
        }
      }),
    };
  } catch (error) {
    await lock.release();
    throw error;
  }
}

async function openPostgres(config: { url: string; schema?: string; maxConnections?: number }, create = true): Promise<Omit<Database, 'migrate'>> {
  const schema = config.schema;
  if (schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new Error(`invalid schema name ${JSON.stringify(schema)}`);
  const pool = new pg.Pool({
    connectionString: config.url,
    max: config.maxConnections ?? 10,
    types: { getTypeParser: pgTypeParser },
    ...(schema === undefined ? {} : { options: `-c search_path=${schema}` }),
  });
  const db = new Kysely<Schema>({ dialect: new PostgresDialect({ pool }) });
  try {
    if (schema !== undefined && create) await sql`CREATE SCHEMA IF NOT EXISTS ${sql.id(schema)}`.execute(db);
  } catch (err) {
    await db.destroy();
    throw err;
  }
  return { db, dialect: 'postgres', close: onceAsync(() => db.destroy()) };
}

/**
 * Applies every pending migration; throws with the failing migration's name. `schema` names where
 * Kysely's own bookkeeping tables live when it is not `public` (Kysely looks tables up across all
 * schemas unless told, so two schemas in one database would otherwise confuse it).
 */
export async function migrateToLatest(db: Kysely<Schema>, schema?: string): Promise<readonly string[]> {
  const migrator = new Migrator({ db, provider: migrationProvider, ...(schema === undefined ? {} : { migrationTableSchema: schema }) });
  const { error, results } = await migrator.migrateToLatest();
  if (error !== undefined) {
    const failed = results?.find((r) => r.status === 'Error');
    throw new Error(`migration ${failed?.migrationName ?? '(unknown)'} failed: ${error instanceof Error ? error.message : JSON.stringify(error)}`, { cause: error });
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

function onceAsync(fn: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => (done ??= fn());
}
