/**
 * The seed's retention scenario as one test through the real processes (`artifactstore start`, the
 * CLI as child processes): a package ingested as release-evidence, extended once, held, its expiry
 * passes, the sweep leaves it ineligible, the hold is released, the next sweep marks it eligible
 * exactly once and a repeated sweep emits nothing — checked in GetRetention and in the event log,
 * and again after `artifactstore replay --check` on the stopped service. No bytes are deleted.
 *
 * The control plane runs on the wall clock here, so "time passes" is real: the operator config
 * gives release-evidence a 3 s duration, and previews of a later time use `sweep --as-of --dry-run`.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, type Interceptor } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { timestampDate } from '@bufbuild/protobuf/wkt';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openDatabase } from '../../control-plane/db/database.ts';
import { RegistryService } from '../../gen/artifactstore/v1/registry_service_pb.ts';
import { RetentionService } from '../../gen/artifactstore/v1/retention_service_pb.ts';
import { runCliProcess, startService, type ServiceUnderTest } from './process-harness.ts';

let service: ServiceUnderTest | undefined;
let work: string;
const files = new Map<string, Buffer>([
  ['report.json', Buffer.from('{"verdict":"release"}')],
  ['logs/build.log', randomBytes(70_000)],
  ['sbom/sbom.cdx.json', randomBytes(1234)],
]);

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'as-e2e-retention-'));
  for (const [rel, bytes] of files) {
    await mkdir(join(work, 'src', rel, '..'), { recursive: true });
    await writeFile(join(work, 'src', rel), bytes);
  }
  const config = join(work, 'artifactstore.toml');
  await writeFile(config, '[retention]\nsweep_interval = "1h"\n\n[retention.classes]\nrelease-evidence = "3s"\n');
  service = await startService({ ARTIFACTSTORE_CONFIG: config, ARTIFACTSTORE_RETENTION_SWEEP_INTERVAL: '1h' });
}, 120_000);

afterAll(async () => {
  await service?.stop();
  if (work !== undefined) await rm(work, { recursive: true, force: true });
});

it('extends, holds, sweeps, releases and marks eligible exactly once; replay agrees; no bytes deleted', async () => {
  const s = service!;
  const cli = async (...args: string[]): Promise<string> => {
    const r = await runCliProcess(args, s.env);
    expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
    return r.stdout.trim();
  };
  const auth: Interceptor = (next) => (req) => {
    req.header.set('Authorization', `Bearer ${s.token}`);
    return next(req);
  };
  const transport = createConnectTransport({ baseUrl: s.controlUrl, httpVersion: '1.1', interceptors: [auth] });
  const registry = createClient(RegistryService, transport);
  const retention = createClient(RetentionService, transport);
  const head = async () => (await registry.listEvents({ since: 0n, limit: 1 })).headSequence;
  const state = async (id: string) => (await retention.getRetention({ packageId: id })).retention!;

  // Ingested as release-evidence: expiry = creation + the configured 3 s.
  const pushed = JSON.parse(await cli('push', join(work, 'src'), '--producer', 'release-bot', '--subject', 'v1.0.0', '--retention-class', 'release-evidence', '--json')) as { package_id: string; expires_at: string };
  const id = pushed.package_id;
  const pkg = (await registry.getPackage({ packageId: id })).package!;
  expect(timestampDate(pkg.expiresAt!).getTime() - timestampDate(pkg.createdAt!).getTime()).toBe(3000);

  // Extended once (an equal expiry is refused, and writes nothing).
  const e1 = new Date(Math.max(timestampDate(pkg.expiresAt!).getTime(), new Date().getTime()) + 4000);
  await cli('retention', 'extend', id, '--until', e1.toISOString(), '--reason', 'release audit');
  const before = await head();
  const equal = await runCliProcess(['retention', 'extend', id, '--until', e1.toISOString(), '--reason', 'again'], s.env);
  expect(equal.code).toBe(1);
  expect(equal.stderr).toMatch(/strictly later/);
  expect(await head()).toBe(before);

  // Held.
  const holdId = await cli('retention', 'hold', id, '--reason', 'legal case 42');
  expect(holdId).toMatch(/^hold_[0-9A-Z]{26}$/);
  expect(await state(id)).toMatchObject({ deletionEligible: false, holds: [{ holdId, reason: 'legal case 42', actor: 'dev-token' }] });

  // Preview of a later sweep: held, so nothing would be marked; nothing written.
  const h1 = await head();
  const preview = JSON.parse(await cli('retention', 'sweep', '--as-of', new Date(e1.getTime() + 3_600_000).toISOString(), '--dry-run', '--json')) as { newly_eligible: string[]; dry_run: boolean };
  expect(preview).toMatchObject({ dry_run: true, newly_eligible: [] });
  expect(await head()).toBe(h1);

  // Time passes the expiry; the sweep leaves it ineligible because of the hold.
  const wait = e1.getTime() + 250 - new Date().getTime();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  expect(JSON.parse(await cli('retention', 'sweep', '--json'))).toMatchObject({ dry_run: false, newly_eligible: [] });
  expect(await state(id)).toMatchObject({ deletionEligible: false });
  expect(await head()).toBe(h1);

  // Released; a preview now shows it, still writing nothing.
  await cli('retention', 'release', id, holdId, '--reason', 'case closed');
  const h2 = await head();
  expect(JSON.parse(await cli('retention', 'sweep', '--as-of', new Date(new Date().getTime() + 60_000).toISOString(), '--dry-run', '--json'))).toMatchObject({ newly_eligible: [id] });
  expect(await head()).toBe(h2);

  // The next sweep marks it eligible exactly once; a repeated sweep emits nothing.
  expect(JSON.parse(await cli('retention', 'sweep', '--json'))).toMatchObject({ newly_eligible: [id] });
  const h3 = await head();
  expect(h3).toBe(h2 + 1n);
  expect(JSON.parse(await cli('retention', 'sweep', '--json'))).toMatchObject({ newly_eligible: [] });
  expect(await head()).toBe(h3);
  const final = await state(id);
  expect(final).toMatchObject({ deletionEligible: true, holds: [], expiresAt: { seconds: BigInt(Math.floor(e1.getTime() / 1000)) } });
  expect((await registry.listPackages({ deletionEligible: true })).packages.map((p) => p.packageId)).toEqual([id]);

  // The log and the history say the same.
  const expectedTypes = ['v1.retention.default_applied', 'v1.retention.extended', 'v1.retention.hold_applied', 'v1.retention.hold_released', 'v1.retention.deletion_eligible'];
  const log = (await registry.listEvents({ since: 0n, limit: 1000 })).events.filter((e) => e.packageId === id && e.type.startsWith('v1.retention.'));
  expect(log.map((e) => e.type)).toEqual(expectedTypes);
  const history = JSON.parse(await cli('retention', 'history', id)) as { type: string; payload: Record<string, unknown> }[];
  expect(history.map((e) => e.type)).toEqual(expectedTypes);
  expect(history[1]!.payload).toMatchObject({ expires_at: e1.toISOString(), reason: 'release audit', actor: 'dev-token' });
  expect(history[3]!.payload).toMatchObject({ hold_id: holdId, reason: 'case closed' });

  // No bytes deleted: the package still pulls back byte-exact.
  const pulled = join(work, 'pulled');
  await cli('pull', id, pulled);
  for (const [rel, bytes] of files) expect((await readFile(join(pulled, rel))).equals(bytes), rel).toBe(true);

  // Stop (PGlite admits one process), replay with --check, and read the rebuilt view.
  await s.stop({ keepDataDir: true });
  service = undefined;
  try {
    const replayed = await runCliProcess(['replay', '--check'], s.env);
    expect(replayed.code, replayed.stderr).toBe(0);
    expect(replayed.stdout).toMatch(/views matched the log exactly/);
    const db = await openDatabase({ kind: 'pglite', dataDir: join(s.dataDir, 'pglite') });
    try {
      const row = await db.db.selectFrom('retention_state').selectAll().where('package_id', '=', id).executeTakeFirstOrThrow();
      expect(row).toMatchObject({ deletion_eligible: true, active_holds: 0, expires_at: e1 });
      expect(row.eligible_since?.getTime()).toBe(timestampDate(final.eligibleSince!).getTime());
      const holds = await db.db.selectFrom('holds').selectAll().where('package_id', '=', id).execute();
      expect(holds).toMatchObject([{ hold_id: holdId, reason: 'legal case 42', actor: 'dev-token', release_reason: 'case closed', released_by: 'dev-token' }]);
      const eligibleEvents = await db.db.selectFrom('events').select('sequence').where('package_id', '=', id).where('event_type', '=', 'v1.retention.deletion_eligible').execute();
      expect(eligibleEvents).toHaveLength(1);
    } finally {
      await db.close();
    }
  } finally {
    await rm(s.dataDir, { recursive: true, force: true });
  }
}, 300_000);
