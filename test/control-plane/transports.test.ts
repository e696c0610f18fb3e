/**
 * One port, every protocol: Connect (HTTP/1.1 and h2c), gRPC (h2c), gRPC-Web; grpc.health.v1 and
 * server reflection, checked with `buf curl` (a grpcurl-style client that only knows what reflection
 * tells it).
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createClient } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport } from '@connectrpc/connect-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HealthService } from '../../core/rpc/grpc-descriptors.ts';
import { startTestControlPlane, TOKENS, TRANSPORTS, type TestControlPlane } from './harness.ts';

const run = promisify(execFile);

/** The Health client's shape (its descriptor is built at run time, so the client is untyped). */
interface HealthClient {
  check: (req: { service?: string }) => Promise<{ status: number }>;
}
const buf = join(import.meta.dirname, '..', '..', 'node_modules', '.bin', 'buf');

describe('transports on one port', () => {
  let t: TestControlPlane;
  beforeAll(async () => {
    t = await startTestControlPlane();
  });
  afterAll(() => t?.close());

  for (const transport of TRANSPORTS) {
    it(`serves RegistryService over ${transport}`, async () => {
      const created = await t.registry('ci', transport).createPackage({ producer: 'p', subject: transport, retentionClass: 'transient' });
      const got = await t.registry('ci', transport).getPackage({ packageId: created.package!.packageId });
      expect(got.package?.subject).toBe(transport);
    });
  }

  it('serves Connect over h2c as well', async () => {
    const { check } = createClient(HealthService, createConnectTransport({ baseUrl: t.url, httpVersion: '2' })) as unknown as HealthClient;
    expect((await check({})).status).toBe(1);
  });

  it('answers grpc.health.v1 Check over gRPC, NOT_FOUND for unknown services', async () => {
    const { check } = createClient(HealthService, createGrpcTransport({ baseUrl: t.url })) as unknown as HealthClient;
    expect((await check({ service: '' })).status).toBe(1);
    expect((await check({ service: 'artifactstore.v1.RegistryService' })).status).toBe(1);
    await expect(check({ service: 'no.such.Service' })).rejects.toMatchObject({ code: 5 });
  });

  it('lets buf curl discover and call services through reflection over h2c', async () => {
    const base = ['curl', '--protocol', 'grpc', '--http2-prior-knowledge'];
    const list = await run(buf, [...base, '--list-methods', t.url]);
    expect(list.stdout).toContain('artifactstore.v1.RegistryService/CreatePackage');
    expect(list.stdout).toContain('grpc.health.v1.Health/Check');
    const health = await run(buf, [...base, `${t.url}/grpc.health.v1.Health/Check`]);
    expect(JSON.parse(health.stdout)).toEqual({ status: 'SERVING' });
    const created = await run(buf, [...base, '-H', `authorization: Bearer ${TOKENS.ci}`, '-d', '{"producer":"buf","subject":"curl","retentionClass":"transient","metadata":{"a":[1,2]}}', `${t.url}/artifactstore.v1.RegistryService/CreatePackage`]);
    expect(JSON.parse(created.stdout)).toMatchObject({ package: { producer: 'buf', metadata: { a: [1, 2] } } });
  });
});
