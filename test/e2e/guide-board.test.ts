/**
 * The guide-board pilot through the real processes (`artifactstore start`, the CLI as child
 * processes), on the CMIS pilot fixture (test/fixtures/guide-board, ~4.7 MiB, 48 files in nested
 * folders): the stored manifest lists every file with SHA-256, BLAKE3 and size; the package metadata
 * carries every run fact; `pull` gets every byte back; the default retention is visible and can be
 * extended; re-running is idempotent on the run id; a crashed earlier ingest is reported; symlinks
 * leaving the run, special files and unreadable files are refused (nothing created) unless excluded.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fromJson } from '@bufbuild/protobuf';
import { timestampDate, ValueSchema } from '@bufbuild/protobuf/wkt';
import { createClient, type Interceptor } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { hash as blake3 } from 'blake3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { walkDirectory } from '../../cli/client/walk-directory.ts';
import { ManifestFormat, RegistryService } from '../../gen/artifactstore/v1/registry_service_pb.ts';
import { PackageStatus } from '../../gen/artifactstore/v1/package_pb.ts';
import { RetentionService } from '../../gen/artifactstore/v1/retention_service_pb.ts';
import { buildPilotRun, PILOT_RUN_ID } from '../fixtures/guide-board/build-pilot-run.ts';
import { runCliProcess, startService, type ServiceUnderTest } from './process-harness.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const DAY = 86_400_000;

let service: ServiceUnderTest | undefined;
let work: string;
let run: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'as-e2e-guide-board-'));
  run = join(work, 'gb-run-cmis-pilot');
  await buildPilotRun(run);
  service = await startService();
}, 120_000);

afterAll(async () => {
  await service?.stop();
  if (work !== undefined) await rm(work, { recursive: true, force: true });
});

function s(): ServiceUnderTest {
  if (service === undefined) throw new Error('service not started');
  return service;
}

function clients() {
  const auth: Interceptor = (next) => (req) => {
    req.header.set('Authorization', `Bearer ${s().token}`);
    return next(req);
  };
  const transport = createConnectTransport({ baseUrl: s().controlUrl, httpVersion: '1.1', interceptors: [auth] });
  return { registry: createClient(RegistryService, transport), retention: createClient(RetentionService, transport) };
}

async function cli(...args: string[]): Promise<string> {
  const r = await runCliProcess(args, s().env);
  expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout.trim();
}

async function packagesOfRun(runId: string) {
  const res = await clients().registry.listPackages({ producer: 'guide-board', metadata: [{ key: 'run_id', value: fromJson(ValueSchema, runId) }] });
  return res.packages;
}

interface Summary {
  package_id: string;
  manifest_digest: string;
  file_count: number;
  total_bytes: number;
  expires_at: string;
  status: string;
  run_id: string;
  subject: string;
  retention_class: string;
  reused: boolean;
}

describe('guide-board ingest of the CMIS pilot run', () => {
  let first: Summary;

  it('stores every file; the manifest lists each with SHA-256, BLAKE3 and size', async () => {
    first = JSON.parse(await cli('guide-board', 'ingest', run, '--json')) as Summary;
    const local = await walkDirectory(run);
    expect(local.length).toBeGreaterThanOrEqual(45);
    const totalBytes = local.reduce((n, f) => n + f.size, 0);
    expect(totalBytes).toBeGreaterThan(4 * 1024 * 1024);
    expect(first).toMatchObject({ run_id: PILOT_RUN_ID, subject: 'nemakiware-cmis', retention_class: 'raw-evidence', status: 'finalized', reused: false, file_count: local.length, total_bytes: totalBytes });
    expect(first.package_id).toMatch(/^pkg_/);
    expect(first.manifest_digest).toMatch(/^blake3:[0-9a-f]{64}$/);

    const res = await clients().registry.getManifest({ packageId: first.package_id, format: ManifestFormat.JSON });
    expect(res.manifestDigest).toBe(first.manifest_digest);
    const manifest = JSON.parse(Buffer.from(res.manifest).toString('utf8')) as { package: { producer: string; subject: string; metadata: Record<string, unknown> }; files: { relative_path: string; size: number; digests: { sha256: string; blake3: string } }[] };
    expect(manifest.package.producer).toBe('guide-board');
    expect(manifest.files.map((f) => f.relative_path)).toEqual(local.map((f) => f.relativePath));
    for (const file of local) {
      const bytes = await readFile(file.absolutePath);
      const entry = manifest.files.find((f) => f.relative_path === file.relativePath)!;
      expect(entry.size, file.relativePath).toBe(bytes.length);
      expect(entry.digests.sha256, file.relativePath).toBe(`sha256:${createHash('sha256').update(bytes).digest('hex')}`);
      expect(entry.digests.blake3, file.relativePath).toBe(`blake3:${blake3(bytes).toString('hex')}`);
    }
  }, 120_000);

  it('records every run fact as package metadata', async () => {
    const pkg = (await clients().registry.getPackage({ packageId: first.package_id })).package!;
    expect(pkg.producer).toBe('guide-board');
    expect(pkg.subject).toBe('nemakiware-cmis');
    expect(pkg.retentionClass).toBe('raw-evidence');
    expect(pkg.status).toBe(PackageStatus.FINALIZED);
    const metadata = pkg.metadata as Record<string, unknown>;
    expect(metadata).toEqual({
      layout: 'guide-board-run/v1',
      run_id: PILOT_RUN_ID,
      run_directory: basename(run),
      target: 'nemakiware-cmis',
      target_profile: 'cmis-1.1-browser-atompub',
      assessment_profile: 'opencmis-tck-conformance',
      started_at: '2026-11-20T09:14:03.000Z',
      finished_at: '2026-11-20T09:51:47.000Z',
      source_commits: { 'guide-board': '4d9a1c0e6b7f2a3958c1d0e4f7a6b5c4d3e2f1a0', nemakiware: '37a59efba7251d33217d75399930c9b9a419be27', 'opencmis-tck': 'b81f5e2c9d0a7364e1f8c2b5a9d3e6f0c7a4b1d2' },
      evidence_result_counts: { pass: 49, fail: 3, error: 1, skip: 4 },
      evidence_result_counts_source: 'scorecard',
      finding_counts: { critical: 0, high: 1, medium: 2, low: 1, info: 1 },
      finding_counts_source: 'scorecard',
      retention_class_source: 'retention-summary',
      retention_reason: expect.stringMatching(/pilot CMIS conformance evidence/) as unknown,
      report_paths: expect.arrayContaining(['scorecard/scorecard.json', 'scorecard/scorecard.md', 'log-review/log-review.json', 'log-review/log-review.md', 'raw/opencmis-tck/browser/TEST-CrudTestGroup.xml', 'raw/opencmis-tck/atompub/tck-report.html', 'raw/opencmis-tck/browser/details/query/Query results.html']) as unknown,
      report_paths_truncated: false,
      missing_parts: [],
    });
    expect((metadata['report_paths'] as string[]).length).toBe(15);
  });

  it('pull gets every byte back', async () => {
    const out = join(work, 'pulled');
    await cli('pull', first.package_id, out);
    for (const file of await walkDirectory(run)) {
      const [a, b] = [await readFile(file.absolutePath), await readFile(join(out, ...file.relativePath.split('/')))];
      expect(a.equals(b), file.relativePath).toBe(true);
    }
    expect((await walkDirectory(out)).length).toBe(first.file_count);
  }, 120_000);

  it('shows the default retention of the class and extends it', async () => {
    const { retention } = clients();
    const state = (await retention.getRetention({ packageId: first.package_id })).retention!;
    const pkg = (await clients().registry.getPackage({ packageId: first.package_id })).package!;
    expect(timestampDate(state.expiresAt!).getTime() - timestampDate(pkg.createdAt!).getTime()).toBe(365 * DAY);
    expect(new Date(first.expires_at).getTime()).toBe(timestampDate(state.expiresAt!).getTime());
    const shown = await cli('retention', 'show', first.package_id);
    expect(shown).toMatch(/raw-evidence/);
    await cli('retention', 'extend', first.package_id, '--by', '365d', '--reason', 'pilot evidence reviewed by the CMIS working group');
    const after = (await retention.getRetention({ packageId: first.package_id })).retention!;
    expect(timestampDate(after.expiresAt!).getTime() - timestampDate(state.expiresAt!).getTime()).toBe(365 * DAY);
  });

  it('is idempotent on the run id; --new-package stores the run again', async () => {
    const again = JSON.parse(await cli('guide-board', 'ingest', run, '--json')) as Summary;
    expect(again).toMatchObject({ package_id: first.package_id, manifest_digest: first.manifest_digest, file_count: first.file_count, total_bytes: first.total_bytes, reused: true });
    expect(await cli('guide-board', 'ingest', run)).toBe(first.package_id);
    expect((await packagesOfRun(PILOT_RUN_ID)).length).toBe(1);
    const forced = JSON.parse(await cli('guide-board', 'ingest', run, '--new-package', '--json')) as Summary;
    expect(forced.package_id).not.toBe(first.package_id);
    expect(forced.manifest_digest).not.toBe(first.manifest_digest);
    expect((await packagesOfRun(PILOT_RUN_ID)).map((p) => p.packageId).sort()).toEqual([first.package_id, forced.package_id].sort());
  }, 120_000);

  it('reports an open package left by an interrupted ingest instead of creating a second one', async () => {
    const runId = 'gb-interrupted-1';
    const { registry } = clients();
    const open = (await registry.createPackage({ producer: 'guide-board', subject: 'nemakiware-cmis', retentionClass: 'transient', metadata: { run_id: runId } })).package!;
    const r = await runCliProcess(['guide-board', 'ingest', run, '--run-id', runId], s().env);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('guide-board-incomplete-package');
    expect(r.stderr).toContain(open.packageId);
    expect((await packagesOfRun(runId)).length).toBe(1);
    const stored = await cli('guide-board', 'ingest', run, '--run-id', runId, '--new-package');
    const runs = await packagesOfRun(runId);
    expect(runs.map((p) => [p.packageId, p.status])).toEqual(expect.arrayContaining([[open.packageId, PackageStatus.CREATED], [stored, PackageStatus.FINALIZED]]));
    // Now a finalized package exists: a plain re-run reuses it.
    expect(await cli('guide-board', 'ingest', run, '--run-id', runId)).toBe(stored);
  }, 120_000);

  it('falls back to counts from the TCK XML and the log review when the scorecard is missing', async () => {
    const dir = join(work, 'no-scorecard');
    await buildPilotRun(dir);
    await rm(join(dir, 'scorecard'), { recursive: true });
    await rm(join(dir, 'retention-summary.json'));
    const out = JSON.parse(await cli('guide-board', 'ingest', dir, '--run-id', 'gb-no-scorecard', '--retention-class', 'transient', '--json')) as Summary;
    expect(out.retention_class).toBe('transient');
    const metadata = (await clients().registry.getPackage({ packageId: out.package_id })).package!.metadata as Record<string, unknown>;
    expect(metadata).toMatchObject({
      run_id: 'gb-no-scorecard',
      evidence_result_counts: { pass: 49, fail: 3, error: 1, skip: 4 },
      evidence_result_counts_source: 'tck-reports',
      finding_counts: { high: 1, medium: 2, low: 1, info: 1 },
      finding_counts_source: 'log-review',
      retention_class_source: 'flag',
      retention_reason: null,
      missing_parts: ['retentionSummary', 'scorecard'],
    });
  }, 120_000);
});

describe('guide-board ingest refuses what it cannot store, unless excluded', () => {
  async function badRun(name: string, spoil: (dir: string) => Promise<void>): Promise<string> {
    const dir = join(work, name);
    await buildPilotRun(dir);
    await writeFile(join(dir, 'run.json'), JSON.stringify({ run_id: `gb-${name}`, target: { id: 'nemakiware-cmis' } }));
    await spoil(dir);
    return dir;
  }

  async function expectRefused(dir: string, pattern: RegExp, runAs?: number): Promise<void> {
    const r = runAs === undefined ? await runCliProcess(['guide-board', 'ingest', dir], s().env) : await runAsUser(runAs, ['guide-board', 'ingest', dir, `--token=${s().token}`], s().env);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain('unpushable-entries');
    expect(r.stderr).toMatch(pattern);
    expect(r.stderr).toContain('--exclude');
    expect((await packagesOfRun(`gb-${basename(dir)}`)).length).toBe(0);
  }

  it('a symbolic link leaving the run directory', async () => {
    const dir = await badRun('symlink-out', (d) => symlink('/etc/hostname', join(d, 'raw', 'logs', 'host-link')));
    await expectRefused(dir, /raw\/logs\/host-link: symbolic link leaves the directory/);
    const out = JSON.parse(await cli('guide-board', 'ingest', dir, '--exclude', 'raw/logs/host-link', '--json')) as Summary;
    const files = (await clients().registry.listFiles({ packageId: out.package_id })).files.map((f) => f.relativePath);
    expect(files).not.toContain('raw/logs/host-link');
    expect(files).toContain('raw/logs/server.log');
    expect(out.file_count).toBe(48);
  }, 120_000);

  it('a special file (FIFO)', async () => {
    const dir = await badRun('fifo', (d) => {
      execFileSync('mkfifo', [join(d, 'raw', 'tck.pipe')]);
      return Promise.resolve();
    });
    await expectRefused(dir, /raw\/tck\.pipe: special file/);
    const out = JSON.parse(await cli('guide-board', 'ingest', dir, '--exclude', '*.pipe', '--json')) as Summary;
    expect(out.file_count).toBe(48);
  }, 120_000);

  it('an unreadable file', async () => {
    const dir = await badRun('unreadable', async (d) => {
      await writeFile(join(d, 'raw', 'logs', 'secret.log'), 'not for you\n');
      await chmod(join(d, 'raw', 'logs', 'secret.log'), 0o000);
    });
    // As root, permissions do not stop reads: run the CLI as `nobody` (the tree must be traversable).
    const asRoot = process.getuid?.() === 0;
    if (asRoot) await chmod(work, 0o755);
    await expectRefused(dir, /raw\/logs\/secret\.log: unreadable file \(EACCES\)/, asRoot ? 65534 : undefined);
    await unlink(join(dir, 'raw', 'logs', 'secret.log'));
  }, 120_000);

  it('prints what it would record with --dry-run, contacting nothing', async () => {
    const r = await runCliProcess(['guide-board', 'ingest', run, '--dry-run', '--url', 'http://127.0.0.1:9'], s().env);
    expect(r.code, r.stderr).toBe(0);
    const plan = JSON.parse(r.stdout) as { run_id: string; file_count: number; metadata: Record<string, unknown> };
    expect(plan.run_id).toBe(PILOT_RUN_ID);
    expect(plan.file_count).toBe(48);
  });
});

/** Runs the CLI as another user (root only): for permission checks root would bypass. */
function runAsUser(uid: number, args: readonly string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'cli', 'main.ts'), ...args], { env: { ...env, HOME: tmpdir() }, cwd: ROOT, uid, gid: uid, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}
