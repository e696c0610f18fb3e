// grpc.health.v1 and server reflection on the data plane (core/rpc/, the same code the control plane
// serves): the data plane describes its own services, anonymously, and reports the backend's health.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createClient } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport } from '@connectrpc/connect-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HealthService } from '../../core/rpc/grpc-descriptors.ts';
import type { StorageBackend } from '../../data-plane/storage/backend.ts';
import { startCluster, type Cluster } from './cluster.ts';

const run = promisify(execFile);
const buf = join(import.meta.dirname, '..', '..', 'node_modules', '.bin', 'buf');

/** The Health client's shape (its descriptor is built at run time, so the client is untyped). */
interface HealthClient {
  check: (req: { service?: string }) => Promise<{ status: number }>;
}
const SERVING = 1;
const NOT_SERVING = 2;

describe('data-plane health and reflection', () => {
  let cluster: Cluster;
  let backendOk = true;
  beforeAll(async () => {
    // The backend's own health is replaced by a switch the tests flip; everything else passes through.
    const wrapBackend = (inner: StorageBackend): StorageBackend => ({
      ...inner,
      health: async (options) => (backendOk ? inner.health(options) : { ok: false, detail: 'switched off by the test' }),
    });
    cluster = await startCluster({ wrapBackend });
  });
  afterAll(() => cluster?.close());

  it('answers Check over gRPC and Connect without a token, NOT_FOUND for services it does not serve', async () => {
    const grpc = createClient(HealthService, createGrpcTransport({ baseUrl: cluster.dataPlane.url })) as unknown as HealthClient;
    expect((await grpc.check({})).status).toBe(SERVING);
    expect((await grpc.check({ service: 'artifactstore.v1.DataPlaneService' })).status).toBe(SERVING);
    // RegistryService lives on the control plane, not here.
    await expect(grpc.check({ service: 'artifactstore.v1.RegistryService' })).rejects.toMatchObject({ code: 5 });
    const connect = createClient(HealthService, createConnectTransport({ baseUrl: cluster.dataPlane.url, httpVersion: '1.1' })) as unknown as HealthClient;
    expect((await connect.check({ service: '' })).status).toBe(SERVING);
  });

  it('reports NOT_SERVING while the backend is unhealthy', async () => {
    const grpc = createClient(HealthService, createGrpcTransport({ baseUrl: cluster.dataPlane.url })) as unknown as HealthClient;
    backendOk = false;
    try {
      expect((await grpc.check({})).status).toBe(NOT_SERVING);
    } finally {
      backendOk = true;
    }
    expect((await grpc.check({})).status).toBe(SERVING);
  });

  it('lets buf curl list its methods through reflection and call Health over h2c', async () => {
    const base = ['curl', '--protocol', 'grpc', '--http2-prior-knowledge'];
    const list = await run(buf, [...base, '--list-methods', cluster.dataPlane.url]);
    const methods = list.stdout.trim().split('\n').sort();
    expect(methods).toEqual(expect.arrayContaining(['artifactstore.v1.DataPlaneService/WriteFile', 'artifactstore.v1.DataPlaneService/ReadFile', 'artifactstore.v1.DataPlaneService/QueryWriteStatus', 'grpc.health.v1.Health/Check', 'grpc.health.v1.Health/Watch']));
    expect(list.stdout).not.toContain('RegistryService');
    expect(list.stdout).not.toContain('ControlService');
    const health = await run(buf, [...base, `${cluster.dataPlane.url}/grpc.health.v1.Health/Check`]);
    expect(JSON.parse(health.stdout)).toEqual({ status: 'SERVING' });
  });
});
