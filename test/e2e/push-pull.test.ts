/**
 * The whole flow through the real processes: push a 50-file package with the CLI, download every
 * file over HTTP and over gRPC verifying both digests, pull it back with the CLI, and tail the
 * events from sequence 1. Everything runs as the `artifactstore` command, compiled first (ADR 0021), as
 * `npm ci` leaves it: the service, its worker threads and the CLI are the compiled CLI's.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { hash as blake3 } from 'blake3';
import { createClient, type Interceptor } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport } from '@connectrpc/connect-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DataPlaneService } from '../../gen/artifactstore/v1/data_plane_service_pb.ts';
import { RegistryService } from '../../gen/artifactstore/v1/registry_service_pb.ts';
import { compileCurrentCli } from '../../cli/compile/compile-cli.ts';
import { runCliProcess, startService, type ServiceUnderTest } from './process-harness.ts';

let service: ServiceUnderTest;
let source: string;
const files = new Map<string, Buffer>();

beforeAll(async () => {
  await compileCurrentCli();
  service = await startService({}, { entry: 'command' });
  source = await mkdtemp(join(tmpdir(), 'as-e2e-src-'));
  for (let i = 0; i < 50; i++) {
    const rel = i % 5 === 0 ? `reports/run-${i}/result.xml` : i % 3 === 0 ? `logs/step-${i}.log` : `file-${String(i).padStart(2, '0')}.bin`;
    const bytes = i === 7 ? Buffer.alloc(0) : randomBytes(1 + ((i * 7919) % 200_000));
    files.set(rel, bytes);
    await mkdir(dirname(join(source, rel)), { recursive: true });
    await writeFile(join(source, rel), bytes);
  }
}, 120_000);

afterAll(async () => {
  await service?.stop();
  if (source !== undefined) await rm(source, { recursive: true, force: true });
});

function digests(bytes: Buffer): { blake3: string; sha256: string } {
  return { blake3: `blake3:${blake3(bytes).toString('hex')}`, sha256: `sha256:${createHash('sha256').update(bytes).digest('hex')}` };
}

it('pushes 50 files with the CLI, serves them byte-exact over HTTP and gRPC, pulls them back, and logs every event', async () => {
  const push = await runCliProcess(['push', source, '--producer', 'ci', '--subject', 'build-42', '--retention-class', 'raw-evidence', '--metadata', 'branch=main', '--json'], service.env, 90_000, 'command');
  expect(push.code, push.stderr).toBe(0);
  const summary = JSON.parse(push.stdout.trim()) as { package_id: string; manifest_digest: string; file_count: number; total_bytes: number; status: string };
  expect(summary).toMatchObject({ file_count: 50, status: 'finalized' });
  expect(summary.total_bytes).toBe([...files.values()].reduce((n, b) => n + b.length, 0));
  expect(summary.manifest_digest).toMatch(/^blake3:[0-9a-f]{64}$/);

  const auth: Interceptor = (next) => (req) => {
    req.header.set('Authorization', `Bearer ${service.token}`);
    return next(req);
  };
  const registry = createClient(RegistryService, createConnectTransport({ baseUrl: service.controlUrl, httpVersion: '1.1', interceptors: [auth] }));
  const listed = await registry.listFiles({ packageId: summary.package_id });
  expect(listed.files.map((f) => f.relativePath).sort()).toEqual([...files.keys()].sort());

  // HTTP: the control plane answers 307 with a live data plane's URL, by package path. (fetch drops
  // Authorization on a cross-origin redirect, as it must, so the redirect is followed explicitly.)
  const headers = { Authorization: `Bearer ${service.token}` };
  for (const [rel, bytes] of files) {
    const redirect = await fetch(`${service.controlUrl}/packages/${summary.package_id}/files/${rel}`, { headers, redirect: 'manual' });
    expect(redirect.status, rel).toBe(307);
    const location = redirect.headers.get('location') ?? '';
    expect(location.startsWith(service.dataUrl), location).toBe(true);
    const res = await fetch(location, { headers });
    expect(res.status, rel).toBe(200);
    const body = Buffer.from(await res.arrayBuffer());
    expect(digests(body), rel).toEqual(digests(bytes));
    expect(res.headers.get('etag')).toBe(`"${digests(bytes).blake3}"`);
  }

  // gRPC (h2c) straight to the data plane, by file id.
  const dataPlane = createClient(DataPlaneService, createGrpcTransport({ baseUrl: service.dataUrl, interceptors: [auth] }));
  for (const file of listed.files) {
    const parts: Uint8Array[] = [];
    for await (const msg of dataPlane.readFile({ fileId: file.fileId })) parts.push(msg.data);
    const body = Buffer.concat(parts);
    expect(digests(body), file.relativePath).toEqual(digests(files.get(file.relativePath) as Buffer));
    expect(file.digests?.blake3).toBe(digests(body).blake3);
    expect(file.digests?.sha256).toBe(digests(body).sha256);
  }

  // The CLI pulls it back byte-exact.
  const target = await mkdtemp(join(tmpdir(), 'as-e2e-dst-'));
  try {
    const pull = await runCliProcess(['pull', summary.package_id, target], service.env, 90_000, 'command');
    expect(pull.code, pull.stderr).toBe(0);
    for (const [rel, bytes] of files) expect((await readFile(join(target, rel))).equals(bytes), rel).toBe(true);
  } finally {
    await rm(target, { recursive: true, force: true });
  }

  // The log from sequence 1: created, default retention, 50 files, finalized — in order, gapless.
  const events = await registry.listEvents({ since: 0n, limit: 1000 });
  expect(events.events.map((e) => Number(e.sequence))).toEqual(events.events.map((_, i) => i + 1));
  const types = events.events.map((e) => e.type);
  expect(types[0]).toBe('v1.package.created');
  expect(types.filter((t) => t === 'v1.file.added')).toHaveLength(50);
  expect(types.at(-1)).toBe('v1.package.finalized');
  const manifest = await registry.getManifest({ packageId: summary.package_id });
  expect(Buffer.from(events.events.at(-1)?.payload ?? []).equals(Buffer.from(manifest.manifest))).toBe(true);
  expect(manifest.manifestDigest).toBe(summary.manifest_digest);
});
