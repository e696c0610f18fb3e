/**
 * The lock that keeps a replay and the service's writers apart on a shared PostgreSQL database.
 *
 * Every mutation takes it shared as its first statement, a replay takes it exclusive as its first. A
 * writer locks a package row before the log head (and the views after it); a replay that began with
 * the head and then emptied the views waited on that row while the writer waited on the head: PostgreSQL
 * broke the deadlock by failing the writer's call. Taken first by both, this lock admits no such cycle:
 * a replay waits for the writers in flight, and new writers wait for the replay. Transaction-scoped, so
 * it is released at commit or rollback.
 */
import { sql, type Transaction } from 'kysely';
import type { Schema } from '../db/schema.ts';

// pg_advisory locks take two int4 keys: 'arts' 'repl' in ASCII, unlikely to meet another program's.
const KEY_A = 0x61727473;
const KEY_B = 0x7265706c;

/** Taken by every mutation, before anything else it does. */
export async function enterWriter(trx: Transaction<Schema>): Promise<void> {
  await sql`SELECT pg_advisory_xact_lock_shared(${sql.lit(KEY_A)}, ${sql.lit(KEY_B)})`.execute(trx);
}

/** Taken by a replay, before anything else it does: waits for every writer in flight. */
export async function enterReplay(trx: Transaction<Schema>): Promise<void> {
  await sql`SELECT pg_advisory_xact_lock(${sql.lit(KEY_A)}, ${sql.lit(KEY_B)})`.execute(trx);
}
