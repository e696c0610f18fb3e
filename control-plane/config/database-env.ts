/**
 * Reads where the registry database lives from the environment:
 * - `ARTIFACTSTORE_DATABASE_URL`: `postgres://…` for a PostgreSQL server, or `pglite://DIR`;
 * - otherwise embedded PGlite in `<ARTIFACTSTORE_DATA_DIR>/pglite` (data dir default `./var`).
 */
import { resolve } from 'node:path';
import { databaseConfigFromUrl, type DatabaseConfig } from '../db/database.ts';
import { dataDirFromEnv } from './data-dir.ts';

/** The database configuration the environment selects. */
export function databaseConfigFromEnv(env: NodeJS.ProcessEnv = process.env): DatabaseConfig {
  return databaseConfigFromUrl(env['ARTIFACTSTORE_DATABASE_URL'], resolve(dataDirFromEnv(env), 'pglite'));
}

/** A description of the configured database that is safe to print (no password). */
export function describeDatabase(config: DatabaseConfig): string {
  if (config.kind === 'pglite') return config.dataDir === undefined ? 'PGlite (in memory)' : `PGlite at ${config.dataDir}`;
  return `PostgreSQL at ${config.url.replace(/\/\/([^:@/]*)(:[^@/]*)?@/, '//$1@')}`;
}
