/**
 * The read-side CLI through the real processes: `health`, `ls`, `manifest` (CBOR bytes whose BLAKE3
 * is the manifest digest, and the JCS projection), `events tail` (a page and --follow).
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hash as blake3 } from 'blake3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCliProcess, startService, type ServiceUnderTest } from './process-harness.ts';

const ROOT = join(import.meta.dirname, '..', '..');
let service: ServiceUnderTest | undefined;
let work: string;
let packageId: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'as-e2e-inspect-'));
  await mkdir(join(work, 'src', 'logs'), { recursive: true });
  await writeFile(join(work, 'src', 'report.json'), '{"ok":true}');
  await writeFile(join(work, 'src', 'logs', 'run.log'), 'line 1\nline 2\n');
  service = await startService();
  const pushed = await runCliProcess(['push', join(work, 'src'), '--producer', 'ci', '--subject', 'build-7', '--retention-class', 'transient', '--json'], service.env);
  expect(pushed.code, pushed.stderr).toBe(0);
  packageId = (JSON.parse(pushed.stdout) as { package_id: string }).package_id;
}, 120_000);

afterAll(async () => {
  await service?.stop();
  if (work !== undefined) await rm(work, { recursive: true, force: true });
});

it('health says ok and exits 0', async () => {
  const r = await runCliProcess(['health'], service!.env);
  expect(r.code, r.stderr).toBe(0);
  expect(r.stdout).toMatch(/^status: ok$/m);
  expect(r.stdout).toMatch(/^database: ok$/m);
  const json = await runCliProcess(['health', '--json'], service!.env);
  expect(JSON.parse(json.stdout)).toMatchObject({ status: 'ok', database: { ok: true } });
  const down = await runCliProcess(['health', '--url', 'http://127.0.0.1:1'], service!.env);
  expect(down.code).toBe(2);
  expect(down.stderr).toMatch(/cannot reach http:\/\/127\.0\.0\.1:1/);
  // A data plane's own /healthz says ok, but it is not the control plane health asks about.
  const dataPlane = await runCliProcess(['health', '--url', service!.dataUrl], service!.env);
  expect(dataPlane.code, dataPlane.stdout).toBe(2);
  expect(dataPlane.stderr).toMatch(/without a database: not a control plane/);
  expect(dataPlane.stdout).toBe('');
});

it('ls lists the package with its counts, filters by producer and status', async () => {
  const r = await runCliProcess(['ls', '--json'], service!.env);
  expect(r.code, r.stderr).toBe(0);
  const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  expect(rows).toEqual([expect.objectContaining({ package_id: packageId, status: 'finalized', producer: 'ci', subject: 'build-7', file_count: 2, total_bytes: 11 + 14 })]);
  expect((await runCliProcess(['ls', '--producer', 'nobody', '--json'], service!.env)).stdout.trim()).toBe('');
  expect((await runCliProcess(['ls', '--status', 'created', '--json'], service!.env)).stdout.trim()).toBe('');
  const bad = await runCliProcess(['ls', '--status', 'gone'], service!.env);
  expect(bad.code).toBe(2);
  expect(bad.stderr).toMatch(/--status must be one of/);
  const table = await runCliProcess(['ls'], service!.env);
  expect(table.stdout.split('\n')[1]).toMatch(new RegExp(`^${packageId}\tfinalized\t2\t25\t`));
});

it('manifest writes the canonical CBOR (BLAKE3 = the digest) and the JCS projection', async () => {
  const out = join(work, 'manifest.cbor');
  const r = await runCliProcess(['manifest', packageId, '--out', out], service!.env);
  expect(r.code, r.stderr).toBe(0);
  const digest = /manifest digest (blake3:[0-9a-f]{64})/.exec(r.stderr)?.[1];
  expect(digest).toBe(`blake3:${blake3(await readFile(out)).toString('hex')}`);
  const json = await runCliProcess(['manifest', packageId, '--json'], service!.env);
  const manifest = JSON.parse(json.stdout) as { manifest_version: number; files: { relative_path: string }[] };
  expect(manifest.manifest_version).toBe(1);
  expect(manifest.files.map((f) => f.relative_path)).toEqual(['logs/run.log', 'report.json']);
  expect((await runCliProcess(['manifest', 'pkg_00000000000000000000000000'], service!.env)).code).toBe(1);
});

it('events tail prints the log from a sequence; --follow streams new events until SIGINT', async () => {
  const all = await runCliProcess(['events', 'tail', '--json'], service!.env);
  expect(all.code, all.stderr).toBe(0);
  const events = all.stdout.trim().split('\n').map((l) => JSON.parse(l) as { sequence: number; type: string; package_id: string | null; payload: Record<string, unknown> });
  expect(events.map((e) => e.sequence)).toEqual(events.map((_, i) => i + 1));
  expect(events.map((e) => e.type)).toEqual(['v1.package.created', 'v1.retention.default_applied', 'v1.file.added', 'v1.file.added', 'v1.package.finalized']);
  expect(events[2]?.payload).toMatchObject({ package_id: packageId, relative_path: 'logs/run.log' });
  const later = await runCliProcess(['events', 'tail', '--since', '3'], service!.env);
  expect(later.stdout.trim().split('\n').map((l) => l.split('\t')[0])).toEqual(['4', '5']);

  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'cli', 'main.ts'), 'events', 'tail', '--since', '5', '--follow'], { env: service!.env, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    await new Promise((r) => setTimeout(r, 2500));
    const again = await runCliProcess(['push', join(work, 'src'), '--producer', 'ci', '--subject', 'build-8', '--retention-class', 'transient', '--no-finalize'], service!.env);
    expect(again.code, again.stderr).toBe(0);
    const deadline = performance.now() + 20_000;
    while (stdout.trim().split('\n').filter(Boolean).length < 4 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(stdout.trim().split('\n').map((l) => l.split('\t')[2])).toEqual(['v1.package.created', 'v1.retention.default_applied', 'v1.file.added', 'v1.file.added']);
  } finally {
    child.kill('SIGINT');
  }
  expect(await exited).toBe(0);
}, 90_000);
