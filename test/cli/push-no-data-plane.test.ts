// `push` with no live data plane: it finds out before creating the package, so nothing is left behind.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
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
  await expect(pushing).rejects.toMatchObject({ code: 'no-data-plane', message: expect.stringMatching(/status 503\): no data plane is live/) as unknown });
  const registry = createClient(RegistryService, createConnectTransport({ baseUrl: plane.url, httpVersion: '1.1', interceptors: [(next) => (req) => (req.header.set('authorization', `Bearer ${token}`), next(req))] }));
  expect((await registry.listPackages({})).packages).toEqual([]);
});

it('says what is wrong with a URL that is not a control plane, before creating anything', async () => {
  const source = join(dir, 'src2');
  await mkdir(source);
  await writeFile(join(source, 'a.txt'), 'a');
  const io = { out: () => undefined, err: () => undefined, progress: () => undefined, env: {} };
  const options = { directory: source, producer: 'ci', subject: 's', retentionClass: 'transient', metadata: {}, finalize: true, concurrency: 2, json: false, token: 't' };
  // Another server (a data plane's byte routes answer 404 for the probe).
  const other = createServer((_req, res) => res.writeHead(404).end());
  await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
  const otherUrl = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
  try {
    await expect(pushDirectory(io, { ...options, url: otherUrl })).rejects.toMatchObject({
      code: 'no-data-plane',
      message: expect.stringContaining(`is ${otherUrl} the control plane? --url and ARTIFACTSTORE_URL take the control plane's URL`) as unknown,
    });
  } finally {
    await new Promise((resolve) => other.close(resolve));
  }
  // Nothing listens there any more.
  await expect(pushDirectory(io, { ...options, url: otherUrl })).rejects.toMatchObject({ code: 'unreachable', message: expect.stringContaining(`cannot reach the control plane at ${otherUrl}`) as unknown });
});
