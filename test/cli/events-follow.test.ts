// `events tail --follow` across a control-plane restart: it says on stderr that the stream was lost,
// reconnects from the last sequence it printed, and goes on, with no event skipped or printed twice.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { eventsCommand } from '../../cli/commands/events.ts';
import { startControlPlane } from '../../control-plane/server/control-plane-server.ts';
import { RegistryService } from '../../gen/artifactstore/v1/registry_service_pb.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'as-follow-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const start = (port: number) => startControlPlane({ host: '127.0.0.1', port, dataDir: dir, database: { kind: 'pglite', dataDir: join(dir, 'pglite') }, log: () => undefined });

async function createPackage(url: string, token: string): Promise<void> {
  const client = createClient(RegistryService, createConnectTransport({ baseUrl: url, httpVersion: '1.1', interceptors: [(next) => (req) => (req.header.set('authorization', `Bearer ${token}`), next(req))] }));
  await client.createPackage({ producer: 'p', subject: 's', retentionClass: 'transient' });
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = performance.now() + 30_000;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

it('reconnects from the last sequence printed when the control plane restarts', async () => {
  let plane = await start(0);
  const { url } = plane;
  const token = plane.adminToken ?? '';
  expect(token).not.toBe('');
  const port = Number(new URL(url).port);
  await createPackage(url, token); // sequences 1 and 2
  const lines: string[] = [];
  const errors: string[] = [];
  const stop = new AbortController();
  const io = { out: (l: string) => lines.push(l), err: (l: string) => errors.push(l), progress: () => undefined, env: {} };
  const following = eventsCommand(io, ['tail', '--follow', '--url', url, '--token', token], stop.signal);
  try {
    await until(() => lines.length === 2, 'the first two events');
    await plane.close();
    await until(() => errors.some((e) => e.includes('reconnecting from sequence 2')), 'the reconnect notice');
    plane = await start(port);
    await createPackage(url, token); // sequences 3 and 4
    await until(() => lines.length === 4, 'the events after the restart');
  } finally {
    stop.abort();
    expect(await following).toBe(0);
    await plane.close();
  }
  expect(lines.map((l) => l.split('\t')[0])).toEqual(['1', '2', '3', '4']);
});
