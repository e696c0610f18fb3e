/**
 * Runs database tests on every dialect from one test file. PGlite always runs (in memory). PostgreSQL
 * runs when ARTIFACTSTORE_TEST_DATABASE_URL is set, and then a missing server is a failure, not a
 * skip; .ci/run sets it. Each PostgreSQL database is a fresh schema, dropped afterwards.
 */
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe } from 'vitest';
import { openDatabase, type Database, type DialectName } from '../../control-plane/db/database.ts';

/** The PostgreSQL URL tests use, if any. */
export const TEST_DATABASE_URL = process.env['ARTIFACTSTORE_TEST_DATABASE_URL'];

/** Every dialect, so per-dialect expectations typed as Record<DialectName, T> fail to compile when one is missing. */
export const DIALECTS: readonly DialectName[] = ['pglite', 'postgres'];

/** Opens a fresh, migrated database of the given dialect. Close it with `close()`. */
export async function openTestDatabase(dialect: DialectName): Promise<Database> {
  if (dialect === 'pglite') return openDatabase({ kind: 'pglite' });
  if (TEST_DATABASE_URL === undefined) throw new Error('ARTIFACTSTORE_TEST_DATABASE_URL is not set');
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const handle = await openDatabase({ kind: 'postgres', url: TEST_DATABASE_URL, schema, maxConnections: 12 });
  return {
    ...handle,
    close: async () => {
      try {
        await sql`DROP SCHEMA ${sql.id(schema)} CASCADE`.execute(handle.db);
      } finally {
        await handle.close();
      }
    },
  };
}

/** True when tests for `dialect` can run here. */
export function dialectEnabled(dialect: DialectName): boolean {
  return dialect === 'pglite' || TEST_DATABASE_URL !== undefined;
}

/**
 * Declares `body` once per dialect, each in its own describe block with a database opened before
 * and closed after. `get()` returns that database inside tests.
 */
export function describeEachDialect(title: string, body: (get: () => Database, dialect: DialectName) => void): void {
  for (const dialect of DIALECTS) {
    const block = dialectEnabled(dialect) ? describe : describe.skip;
    block(`${title} [${dialect}]`, () => {
      let handle: Database | undefined;
      beforeAll(async () => {
        handle = await openTestDatabase(dialect);
      });
      afterAll(async () => {
        await handle?.close();
      });
      body(() => {
        if (handle === undefined) throw new Error('database not open');
        return handle;
      }, dialect);
    });
  }
}
