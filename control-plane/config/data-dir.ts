/**
 * Where the service keeps its state on disk. A module of its own, without the database drivers, so the
 * CLI can find the dev token without loading PGlite and pg.
 */
import { resolve } from 'node:path';

/** The data directory: `ARTIFACTSTORE_DATA_DIR`, default `./var`, resolved against the working directory. */
export function dataDirFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  const dir = env['ARTIFACTSTORE_DATA_DIR'];
  return resolve(dir === undefined || dir === '' ? 'var' : dir);
}
