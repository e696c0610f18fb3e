import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { access, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
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

it('audit verify and replay refuse a data directory without a database, creating nothing', async () => {
  const missing = join(dir, 'no-such-data-dir');
  for (const args of [['audit', 'verify'], ['replay', '--check'], ['replay']]) {
    const io = capture({ ARTIFACTSTORE_DATA_DIR: missing });
    await expect(runCli(args, io)).rejects.toThrow(/no embedded database at/);
  }
  await expect(access(missing)).rejects.toThrow();
});

it('refuses a second process on an embedded database while the first has it open', async () => {
  const env = { ARTIFACTSTORE_DATA_DIR: join(dir, 'locked') };
  expect(await runCli(['migrate'], capture(env))).toBe(0);
  const held = await openDatabase({ kind: 'pglite', dataDir: join(dir, 'locked', 'pglite') });
  try {
    // Another process: the real case (two control planes, or a command beside a running service).
    const child = spawnSync(process.execPath, ['--import', 'tsx', 'cli/main.ts', 'audit', 'verify'], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 60_000 });
    expect(child.status).not.toBe(0);
    expect(child.stderr).toContain(`is open in process ${process.pid}`);
    // This process too: PGlite has no lock of its own.
    await expect(openDatabase({ kind: 'pglite', dataDir: join(dir, 'locked', 'pglite') })).rejects.toThrow(/is open in this process/);
  } finally {
    await held.close();
  }
  expect(await runCli(['audit', 'verify'], capture(env))).toBe(0);
  // A lock left by a process that died (here: one that has exited) is taken over.
  const dead = spawnSync(process.execPath, ['-e', '0']).pid;
  await writeFile(join(dir, 'locked', 'pglite.lock'), `${dead}\n${hostname()}\n2026-12-05T09:00:00.000Z\n`);
  expect(await runCli(['audit', 'verify'], capture(env))).toBe(0);
  await expect(access(join(dir, 'locked', 'pglite.lock'))).rejects.toThrow();
  // A lock naming this very PID that this process does not hold: left by an earlier life (a container
  // restarted with the same PID); taken over.
  await writeFile(join(dir, 'locked', 'pglite.lock'), `${process.pid}\n${hostname()}\n2026-12-05T09:00:00.000Z\n`);
  expect(await runCli(['audit', 'verify'], capture(env))).toBe(0);
  // An empty lock: what a power loss leaves of one whose content had not reached the disk (a live lock is
  // written and fsynced before it is linked into place, so it is never empty); taken over.
  await writeFile(join(dir, 'locked', 'pglite.lock'), '');
  expect(await runCli(['audit', 'verify'], capture(env))).toBe(0);
  await expect(access(join(dir, 'locked', 'pglite.lock'))).rejects.toThrow();
});

it('lets exactly one of several processes starting at once take a stale lock', async () => {
  const target = join(dir, 'contended');
  const dead = spawnSync(process.execPath, ['-e', '0']).pid;
  for (let round = 0; round < 3; round++) {
    await writeFile(`${target}.lock`, `${dead}\n${hostname()}\n2026-12-05T09:00:00.000Z\n`);
    const children = Array.from({ length: 6 }, () => spawn(process.execPath, ['--import', 'tsx', 'test/support/hold-lock.ts', target, '400'], { stdio: ['ignore', 'pipe', 'inherit'] }));
    const outputs = await Promise.all(
      children.map(async (child) => {
        let out = '';
        child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
        await once(child, 'close');
        return out.trim();
      }),
    );
    const holds = outputs.filter((o) => o.startsWith('held')).map((o) => o.split(' ').slice(1).map(Number) as [number, number]);
    expect(holds.length, outputs.join(' | ')).toBeGreaterThanOrEqual(1);
    expect(outputs.every((o) => o === 'refused' || o.startsWith('held')), outputs.join(' | ')).toBe(true);
    // No two holders at the same time.
    holds.sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < holds.length; i++) expect(holds[i]![0], `round ${round}: ${JSON.stringify(holds)}`).toBeGreaterThanOrEqual(holds[i - 1]![1]);
  }
}, 120_000);

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

it('stops quietly when the reader of its output goes away (| head)', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.destroy(); // the reader is gone before the first line is written
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const [code] = (await once(child, 'close')) as [number | null];
  expect(stderr).not.toContain('EPIPE');
  expect(code).toBe(0);
});
