/**
 * The ordered list of migrations. Imported statically (not read from a folder at run time) so the
 * set of migrations is fixed by the code that ships; names sort in apply order.
 */
import type { Migration, MigrationProvider } from 'kysely/migration';
import * as m0001 from './0001-initial.ts';
import * as m0002 from './0002-upload-backend.ts';
import * as m0003 from './0003-retention-sweep-index.ts';
import * as m0004 from './0004-files-path-prefix-index.ts';
import * as m0005 from './0005-upload-sweep-index.ts';
import * as m0006 from './0006-upload-completing.ts';
import * as m0007 from './0007-file-backend.ts';

const migrations: Record<string, Migration> = {
  '0001-initial': m0001,
  '0002-upload-backend': m0002,
  '0003-retention-sweep-index': m0003,
  '0004-files-path-prefix-index': m0004,
  '0005-upload-sweep-index': m0005,
  '0006-upload-completing': m0006,
  '0007-file-backend': m0007,
};

/** Provides the migrations above to Kysely's Migrator. */
export const migrationProvider: MigrationProvider = {
  getMigrations: () => Promise.resolve(migrations),
};
