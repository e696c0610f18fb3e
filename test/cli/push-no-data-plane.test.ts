// `push` with no live data plane: it finds out before creating the package, so nothing is left behind.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { pushDirectory } from '../../cli/commands/push.ts';
import { startControlPlane, type RunningControlPlane } from '../../control-plane/server/control-plane-server.ts';
import { RegistryService } from '../../gen/artifactstore/v1/registry_service_pb.ts';

let dir: string;
let plane: RunningControlPlane;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'as-push-'));
  plane = await startControlPlane({ host: '127.0.0.1', port: 0, dataDir: dir, database: { kind: 'pglite' }, log: () => undefined });
});
afterAll(async () => {
  await plane.close();
  await rm(dir, { recursive: true, force: true });
});

it('refuses before creating a package when no data plane is live', async () => {
  const source = join(dir, 'src');
  await mkdir(source);
  await writeFile(join(source, 'a.txt'), 'a');
  const errors: string[] = [];
  const io = { out: () => undefined, err: (l: string) => errors.push(l), progress: () => undefined, env: {} };
  const token = plane.adminToken ?? '';
  const pushing = pushDirectory(io, { directory: source, producer: 'ci', subject: 's', retentionClass: 'transient', metadata: {}, finalize: true, concurrency: 2, json: false, url: plane.url, token });
  await expect(pushing).rejects.toMatchObject({ code: 'no-data-plane' });
  const registry = createClient(RegistryService, createConnectTransport({ baseUrl: plane.url, httpVersion: '1.1', interceptors: [(next) => (req) => (req.header.set('authorization', `Bearer ${token}`), next(req))] }));
  expect((await registry.listPackages({})).packages).toEqual([]);
});
