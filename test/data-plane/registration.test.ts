// The data plane outlives a control-plane restart: while the control plane is down requests fail
// cleanly (503 problem) and the process keeps serving; once it is back (knowing nothing of the data
// plane) the next heartbeat hears `known: false`, re-registers under the same id, and writes work again.
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, type Interceptor } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startControlPlane, type ControlPlaneOptions, type RunningControlPlane } from '../../control-plane/server/control-plane-server.ts';
import { startDataPlane, type RunningDataPlane } from '../../data-plane/server/data-plane-server.ts';
import { createLocalBackend } from '../../data-plane/storage/local/local-backend.ts';
import { RegistryService } from '../../gen/artifactstore/v1/registry_service_pb.ts';
import { bytesOf, TOKEN_A } from './cluster.ts';

let dir: string;
let controlPlane: RunningControlPlane | undefined;
let dataPlane: RunningDataPlane | undefined;
let options: ControlPlaneOptions;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dp-reg-'));
  await mkdir(join(dir, 'objects'));
  options = {
    host: '127.0.0.1',
    port: 0,
    dataDir: join(dir, 'cp'),
    database: { kind: 'pglite', dataDir: join(dir, 'cp', 'pglite') },
    tokensEnv: `tenant-a:alice:${TOKEN_A}`,
    internalToken: 'internal-token-for-registration-test',
    // Short, so the re-registration after the restart comes soon (heartbeats every third of it); long
    // enough that a busy machine's stalls do not make the data plane miss it meanwhile.
    dataPlaneTtlMs: 3_000,
  };
  controlPlane = await startControlPlane(options);
});
afterAll(async () => {
  await dataPlane?.close();
  await controlPlane?.close();
  await rm(dir, { recursive: true, force: true });
});

async function eventually<T>(action: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 15_000): Promise<T> {
  for (let waited = 0; ; waited += 100) {
    const value = await action();
    if (ok(value) || waited > timeoutMs) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
}

it('re-registers under the same id after a control-plane restart', async () => {
  const first = controlPlane as RunningControlPlane;
  dataPlane = await startDataPlane({ host: '127.0.0.1', port: 0, controlPlaneUrl: first.url, internalToken: options.internalToken ?? '', backend: createLocalBackend({ id: 'local', root: join(dir, 'objects') }) });
  const auth: Interceptor = (next) => (req) => {
    req.header.set('Authorization', `Bearer ${TOKEN_A}`);
    return next(req);
  };
  const registry = createClient(RegistryService, createConnectTransport({ baseUrl: first.url, httpVersion: '1.1', interceptors: [auth] }));
  const pkg = (await registry.createPackage({ producer: 'ci', subject: 'restart', retentionClass: 'transient' })).package?.packageId ?? '';
  const put = (name: string): Promise<Response> => fetch(`${dataPlane?.url ?? ''}/packages/${pkg}/files/${name}`, { method: 'PUT', body: bytesOf(100), headers: { authorization: `Bearer ${TOKEN_A}` } });
  expect((await put('before.bin')).status).toBe(201);

  const port = new URL(first.url).port;
  await first.close();
  controlPlane = undefined;
  const down = await put('during.bin');
  expect(down.status).toBe(503);
  expect(((await down.json()) as { code: string }).code).toBe('control-plane-unavailable');
  const health = await fetch(`${dataPlane.url}/healthz`);
  expect(health.status).toBe(200);
  await health.body?.cancel();

  controlPlane = await startControlPlane({ ...options, port: Number(port) });
  const after = await eventually(
    () => put('after.bin'),
    (res) => res.status === 201,
  );
  expect(after.status).toBe(201);
  const planes = (await (await fetch(`${controlPlane.url}/healthz`)).json()) as { data_planes: { id?: string; data_plane_id?: string }[] };
  expect(JSON.stringify(planes.data_planes)).toContain(dataPlane.dataPlaneId);
  const { files } = await registry.listFiles({ packageId: pkg });
  expect(files.map((f) => f.relativePath)).toEqual(['after.bin', 'before.bin']);
}, 120_000);

it('leaves the table of the control plane at once when it shuts down, not when its heartbeats are missed', async () => {
  const cp = await startControlPlane({ ...options, dataDir: join(dir, 'cp-long'), database: { kind: 'pglite' }, dataPlaneTtlMs: 60_000 });
  try {
    const planes = async (): Promise<string[]> => ((await (await fetch(`${cp.url}/healthz`)).json()) as { data_planes: { id: string }[] }).data_planes.map((p) => p.id);
    const dp = await startDataPlane({ host: '127.0.0.1', port: 0, controlPlaneUrl: cp.url, internalToken: options.internalToken ?? '', backend: createLocalBackend({ id: 'local', root: join(dir, 'objects') }) });
    expect(await planes()).toEqual([dp.dataPlaneId]);
    await dp.close();
    expect(await planes()).toEqual([]);
    expect((await fetch(`${cp.url}/uploads`, { method: 'POST', redirect: 'manual' })).status).toBe(503);
  } finally {
    await cp.close();
  }
});
