/**
 * `artifactstore copy-events`: moving a deployment between databases by copying the event log and
 * replaying it. The target ends with the same chain (same head hash) and the same views as the
 * source; a second run copies only what is new; a diverged target and a corrupt source are refused.
 * PGlite → PGlite always; PGlite → PostgreSQL (a fresh database, dropped afterwards) when
 * ARTIFACTSTORE_TEST_DATABASE_URL is set.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { Kysely, PGliteDialect, sql } from 'kysely';
import { Migrator } from 'kysely/migration';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CommandIo } from '../../cli/command-io.ts';
import { runCli } from '../../cli/main.ts';
import { databaseConfigFromUrl, openDatabase } from '../../control-plane/db/database.ts';
import type { Schema } from '../../control-plane/db/schema.ts';
import { migrationProvider } from '../../migrations/index.ts';
import { verifyEventChain } from '../../control-plane/events/audit.ts';
import { dumpViews } from '../../control-plane/events/replay.ts';
import { createRegistry } from '../../control-plane/registry/registry.ts';
import { createManualClock } from '../../core/time/clock.ts';
import { TEST_DATABASE_URL } from '../db/test-database.ts';
import { runWorkload } from '../registry/workload.ts';

let dir: string;
let source: string;

function capture(): CommandIo & { lines: string[]; errors: string[] } {
  const lines: string[] = [];
  const errors: string[] = [];
  return { lines, errors, out: (l) => lines.push(l), err: (l) => errors.push(l), progress: () => undefined, env: { ARTIFACTSTORE_DATA_DIR: dir } };
}

async function addWorkload(url: string, at: string): Promise<void> {
  const handle = await openDatabase(databaseConfigFromUrl(url, undefined));
  const clock = createManualClock(new Date(at));
  await runWorkload(createRegistry({ db: handle.db, clock }), clock);
  await handle.close();
}

async function snapshot(url: string): Promise<{ views: Record<string, string[]>; head: string; events: number }> {
  const handle = await openDatabase(databaseConfigFromUrl(url, undefined));
  try {
    const audit = await verifyEventChain(handle.db);
    if (!audit.ok) throw new Error(`chain broken at ${audit.sequence}`);
    return { views: await dumpViews(handle.db), head: audit.headHash, events: audit.checked };
  } finally {
    await handle.close();
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'as-copy-events-'));
  source = `pglite://${join(dir, 'source')}`;
  await addWorkload(source, '2026-11-23T09:00:00.000Z');
}, 60_000);
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function copyAndCompare(target: string): Promise<void> {
  let io = capture();
  expect(await runCli(['copy-events', '--from', source, '--to', target], io), io.errors.join('\n')).toBe(0);
  const first = await snapshot(source);
  expect(io.lines[0]).toBe(`copied ${first.events} events (0 already present); target head ${first.events} ${first.head}`);
  expect(io.lines.at(-1)).toMatch(/^ok: target verified/);
  expect(await snapshot(target)).toEqual(first);

  // The source moves on; a second run copies only the new events.
  await addWorkload(source, '2026-11-24T09:00:00.000Z');
  io = capture();
  expect(await runCli(['copy-events', '--from', source, '--to', target], io), io.errors.join('\n')).toBe(0);
  const second = await snapshot(source);
  expect(io.lines[0]).toBe(`copied ${second.events - first.events} events (${first.events} already present); target head ${second.events} ${second.head}`);
  expect(await snapshot(target)).toEqual(second);
}

describe('copy-events', () => {
  it('PGlite → PGlite: same chain and views; resumes', async () => {
    await copyAndCompare(`pglite://${join(dir, 'target')}`);
  }, 60_000);

  it.skipIf(TEST_DATABASE_URL === undefined)('PGlite → PostgreSQL (a fresh database)', async () => {
    const name = `as_copy_${randomBytes(4).toString('hex')}`;
    const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    try {
      const url = new URL(TEST_DATABASE_URL!);
      url.pathname = `/${name}`;
      await copyAndCompare(url.toString());
      // And back: PostgreSQL as the (only read) source.
      const back = `pglite://${join(dir, 'back-from-postgres')}`;
      const io = capture();
      expect(await runCli(['copy-events', '--from', url.toString(), '--to', back], io), io.errors.join('\n')).toBe(0);
      expect(await snapshot(back)).toEqual(await snapshot(url.toString()));
    } finally {
      // Pools closed by the command and the test may still be saying goodbye: wait for their
      // sessions to end (a forced drop would kill them mid-close, an error with no listener).
      for (let i = 0; i < 100; i++) {
        const { rows } = await admin.query<{ n: string }>('SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1', [name]);
        if (rows[0]?.n === '0') break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      await admin.query(`DROP DATABASE ${name} WITH (FORCE)`);
      await admin.end();
    }
  }, 120_000);

  it('refuses a target that is not a prefix of the source, and a corrupt source', async () => {
    const other = `pglite://${join(dir, 'other')}`;
    await addWorkload(other, '2025-01-01T00:00:00.000Z');
    await expect(runCli(['copy-events', '--from', source, '--to', other], capture())).rejects.toMatchObject({ code: 'target-diverged' });

    const broken = `pglite://${join(dir, 'broken')}`;
    await addWorkload(broken, '2026-11-23T09:00:00.000Z');
    const handle = await openDatabase(databaseConfigFromUrl(broken, undefined));
    await sql`ALTER TABLE events DISABLE TRIGGER events_no_update_delete`.execute(handle.db);
    await sql`UPDATE events SET event_type = 'v1.package.finalized' WHERE sequence = 2`.execute(handle.db);
    await handle.close();
    await expect(runCli(['copy-events', '--from', broken, '--to', `pglite://${join(dir, 'fresh')}`], capture())).rejects.toMatchObject({ code: 'source-corrupt' });
  }, 60_000);

  it('explains itself and refuses copying a database onto itself', async () => {
    let io = capture();
    expect(await runCli(['copy-events', '--help'], io)).toBe(0);
    expect(io.lines.join('\n')).toMatch(/supported way to move from embedded PGlite to PostgreSQL/);
    io = capture();
    expect(await runCli(['copy-events', '--from', source, '--to', source], io)).toBe(2);
    expect(io.errors.join('\n')).toMatch(/same database/);
    // The same directory spelled through a symlink is still the same database.
    const alias = join(dir, 'alias');
    await symlink(source.replace(/^pglite:\/\//, ''), alias);
    io = capture();
    expect(await runCli(['copy-events', '--from', source, '--to', `pglite://${alias}`], io)).toBe(2);
    expect(io.errors.join('\n')).toMatch(/same database/);
    io = capture();
    expect(await runCli(['copy-events'], io)).toBe(2);
    // A malformed URL is blamed on the flag it came from, not on ARTIFACTSTORE_DATABASE_URL.
    io = capture();
    expect(await runCli(['copy-events', '--from', source, '--to', 'mysql://db/x'], io)).toBe(2);
    expect(io.errors.join('\n')).toMatch(/^--to must start with postgres:\/\//m);
    io = capture();
    expect(await runCli(['copy-events', '--from', '/tmp/x'], io)).toBe(2);
    expect(io.errors.join('\n')).toMatch(/^--from must start with/m);
  });

  it('only reads the source: a missing one is not created, an older schema is refused and left as it was', async () => {
    const missing = join(dir, 'typo');
    let io = capture();
    expect(await runCli(['copy-events', '--from', `pglite://${missing}`, '--to', `pglite://${join(dir, 'target-missing')}`], io)).toBe(1);
    expect(io.errors.join('\n')).toMatch(/cannot read the source .*no embedded database at .*typo/);
    await expect(stat(missing)).rejects.toMatchObject({ code: 'ENOENT' });

    // A database one migration behind this build.
    const olderDir = join(dir, 'older');
    const older = new Kysely<Schema>({ dialect: new PGliteDialect({ pglite: new PGlite(olderDir) }) });
    const all = await new Migrator({ db: older, provider: migrationProvider }).getMigrations();
    const previous = all[all.length - 2]?.name ?? '';
    expect((await new Migrator({ db: older, provider: migrationProvider }).migrateTo(previous)).error).toBeUndefined();
    await older.destroy();
    io = capture();
    expect(await runCli(['copy-events', '--from', `pglite://${olderDir}`, '--to', `pglite://${join(dir, 'target-older')}`], io)).toBe(1);
    expect(io.errors.join('\n')).toMatch(new RegExp(`schema is older than this build's \\(pending migrations: ${all[all.length - 1]?.name ?? '?'}\\); migrate it with this build first: ARTIFACTSTORE_DATABASE_URL=<its URL> artifactstore migrate`));
    const after = new Kysely<Schema>({ dialect: new PGliteDialect({ pglite: new PGlite(olderDir) }) });
    const still = await new Migrator({ db: after, provider: migrationProvider }).getMigrations();
    await after.destroy();
    expect(still.filter((m) => m.executedAt === undefined).map((m) => m.name)).toEqual([all[all.length - 1]?.name]);

    // An embedded database without the schema, and one a newer build has migrated further.
    const emptyDir = join(dir, 'empty');
    await new PGlite(emptyDir).close();
    io = capture();
    expect(await runCli(['copy-events', '--from', `pglite://${emptyDir}`, '--to', `pglite://${join(dir, 'target-empty')}`], io)).toBe(1);
    expect(io.errors.join('\n')).toMatch(/no artifact-store schema/);
    const newerDir = join(dir, 'newer');
    const newer = await openDatabase(databaseConfigFromUrl(`pglite://${newerDir}`, undefined));
    await sql`INSERT INTO kysely_migration (name, timestamp) VALUES ('9999-from-the-future', '2027-01-01T00:00:00.000Z')`.execute(newer.db);
    await newer.close();
    io = capture();
    expect(await runCli(['copy-events', '--from', `pglite://${newerDir}`, '--to', `pglite://${join(dir, 'target-newer')}`], io)).toBe(1);
    expect(io.errors.join('\n')).toMatch(/newer than this build's \(unknown migrations: 9999-from-the-future\)/);
  });
});
