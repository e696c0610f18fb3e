import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCli } from '../../cli/main.ts';
import type { CommandIo } from '../../cli/command-io.ts';
import { openDatabase } from '../../control-plane/db/database.ts';
import { createRegistry } from '../../control-plane/registry/registry.ts';
import { createManualClock } from '../../core/time/clock.ts';
import { runWorkload } from '../registry/workload.ts';

let dir: string;

function capture(env: NodeJS.ProcessEnv): CommandIo & { lines: string[]; errors: string[] } {
  const lines: string[] = [];
  const errors: string[] = [];
  return { lines, errors, out: (l) => lines.push(l), err: (l) => errors.push(l), progress: () => undefined, env };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'as-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

it('migrate, audit verify and replay --check on an embedded database; audit names a tampered sequence', async () => {
  const env = { ARTIFACTSTORE_DATA_DIR: dir };
  let io = capture(env);
  expect(await runCli(['migrate'], io)).toBe(0);

  const handle = await openDatabase({ kind: 'pglite', dataDir: join(dir, 'pglite') });
  const clock = createManualClock(new Date('2026-11-23T09:00:00.000Z'));
  await runWorkload(createRegistry({ db: handle.db, clock }), clock);
  await handle.close();

  io = capture(env);
  expect(await runCli(['audit', 'verify'], io)).toBe(0);
  expect(io.lines.join('\n')).toMatch(/^ok: \d+ events verified/);

  io = capture(env);
  expect(await runCli(['replay', '--check'], io)).toBe(0);
  expect(io.lines).toContain('views matched the log exactly');

  const again = await openDatabase({ kind: 'pglite', dataDir: join(dir, 'pglite') });
  await sql`ALTER TABLE events DISABLE TRIGGER events_no_update_delete`.execute(again.db);
  await sql`UPDATE events SET event_type = 'v1.package.finalized' WHERE sequence = 3`.execute(again.db);
  await again.close();

  io = capture(env);
  expect(await runCli(['audit', 'verify', '--json'], io)).toBe(1);
  expect(JSON.parse(io.lines[0] ?? '')).toMatchObject({ ok: false, sequence: 3, reason: 'hash-mismatch' });

  io = capture(env);
  expect(await runCli(['replay'], io)).toBe(2);
  expect(io.errors.join('\n')).toMatch(/refusing to replay: event 3/);
});

it('explains itself and rejects unknown commands and flags', async () => {
  let io = capture({});
  expect(await runCli(['--help'], io)).toBe(0);
  expect(io.lines.join('\n')).toMatch(/audit verify/);
  io = capture({});
  expect(await runCli(['frobnicate'], io)).toBe(2);
  expect(io.errors.join('\n')).toMatch(/unknown command/);
  io = capture({});
  expect(await runCli(['replay', '--bogus'], io)).toBe(2);
  expect(io.errors.join('\n')).toMatch(/Unknown option '--bogus'/);
});
