/**
 * The grpc-js client built from the generated descriptors (core/rpc/grpc-js-client.ts) against a real
 * control plane (in-memory PGlite) over h2c: unary calls return the generated message types, a bad
 * token is UNAUTHENTICATED, and WatchEvents streams until the client cancels.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMessage } from '@bufbuild/protobuf';
import { credentials, Metadata, status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, type RunningControlPlane } from '../../control-plane/server/control-plane-server.ts';
import { createGrpcJsClient, type GrpcJsClient } from '../../core/rpc/grpc-js-client.ts';
import { PackageSchema } from '../../gen/artifactstore/v1/package_pb.ts';
import { GetPackageResponseSchema, ListPackagesResponseSchema, RegistryService } from '../../gen/artifactstore/v1/registry_service_pb.ts';

const TOKEN = 'tenant-a-token-0123456789abcdef';

function bearer(token: string): Metadata {
  const md = new Metadata();
  md.set('authorization', `Bearer ${token}`);
  return md;
}

describe('grpc-js client from the generated descriptors', () => {
  let dir: string;
  let controlPlane: RunningControlPlane;
  let registry: GrpcJsClient<typeof RegistryService>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'grpc-js-client-'));
    controlPlane = await startControlPlane({ host: '127.0.0.1', port: 0, dataDir: dir, database: { kind: 'pglite' }, tokensEnv: `tenant-a:alice:${TOKEN}` });
    registry = createGrpcJsClient(RegistryService, { address: new URL(controlPlane.url).host, credentials: credentials.createInsecure(), metadata: bearer(TOKEN) });
  });

  afterAll(async () => {
    registry?.close();
    await controlPlane?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('creates, gets and lists a package as generated messages', async () => {
    const created = await registry.createPackage({ producer: 'grpc-js', subject: 'typed-client', retentionClass: 'transient' });
    const pkg = created.package;
    expect(pkg && isMessage(pkg, PackageSchema)).toBe(true);
    expect(pkg).toMatchObject({ producer: 'grpc-js', subject: 'typed-client', retentionClass: 'transient' });
    const packageId = pkg!.packageId;

    const got = await registry.getPackage({ packageId });
    expect(isMessage(got, GetPackageResponseSchema)).toBe(true);
    expect(got.package).toEqual(pkg);

    const listed = await registry.listPackages({ producer: 'grpc-js' });
    expect(isMessage(listed, ListPackagesResponseSchema)).toBe(true);
    expect(listed.packages).toEqual([pkg]);
  });

  it('fails with UNAUTHENTICATED for a bad token', async () => {
    await expect(registry.listPackages({}, { metadata: bearer('not-a-valid-token-0123456789') })).rejects.toMatchObject({ code: status.UNAUTHENTICATED });
    expect(status.UNAUTHENTICATED).toBe(16);
  });

  it('streams WatchEvents from sequence 0 until cancelled', async () => {
    const { package: pkg } = await registry.createPackage({ producer: 'grpc-js', subject: 'watched', retentionClass: 'transient' });
    const abort = new AbortController();
    const seen: string[] = [];
    await expect(
      (async () => {
        for await (const { event } of registry.watchEvents({ since: 0n }, { signal: abort.signal })) {
          seen.push(`${event?.type} ${event?.packageId}`);
          if (event?.type === 'v1.package.created' && event.packageId === pkg?.packageId) abort.abort();
        }
      })(),
    ).rejects.toMatchObject({ code: status.CANCELLED });
    expect(seen).toContain(`v1.package.created ${pkg?.packageId}`);

    // Stopping early with break ends the stream too, without an error.
    for await (const { event } of registry.watchEvents({ since: 0n })) {
      expect(event?.sequence).toBe(1n);
      break;
    }
    // The channel still serves calls afterwards.
    expect((await registry.getPackage({ packageId: pkg!.packageId })).package?.subject).toBe('watched');
  });
});
