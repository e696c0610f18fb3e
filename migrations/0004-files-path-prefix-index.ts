/**
 * Adding a file checks that its path is not a directory of another file of the package, i.e. that no
 * file's path starts with `<path>/`. That is a range over the package's paths in byte order
 * (`>= '<path>/'` and `< '<path>0'`, '0' being the character after '/'), which this index answers in
 * O(log n) instead of a scan of every file of the package: a 10,000-file package would otherwise cost
 * 50 million comparisons to fill. `COLLATE "C"` makes the order bytewise whatever the database's
 * default collation is, on PostgreSQL and PGlite alike.
 */
import { sql, type Kysely } from 'kysely';

/** Creates the byte-ordered path index. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are schema-agnostic by design.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`CREATE INDEX files_package_path_bytes_idx ON files (package_id, (relative_path COLLATE "C"))`.execute(db);
}

/** Drops the index `up` created. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are schema-agnostic by design.
export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP INDEX files_package_path_bytes_idx`.execute(db);
}
