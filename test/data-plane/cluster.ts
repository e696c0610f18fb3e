// A real control plane (in-memory PGlite) and a real data plane on 127.0.0.1, port 0, over a local
// backend in a temp dir, plus the clients the data-plane tests use. Nothing is mocked.
import { mkdtemp, readdir, rm, mkdir } from 'node:fs/promises';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hash as blake3 } from 'blake3';
import { createClient, type Client, type Interceptor } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport } from '@connectrpc/connect-node';
import { startControlPlane, type RunningControlPlane } from '../../control-plane/server/control-plane-server.ts';
import { createHashPool, type HashPool } from '../../core/identity/hash-pool.ts';
import type { Clock } from '../../core/time/clock.ts';
import { startDataPlane, type RunningDataPlane } from '../../data-plane/server/data-plane-server.ts';
import { createLocalBackend } from '../../data-plane/storage/local/local-backend.ts';
import type { StorageBackend } from '../../data-plane/storage/backend.ts';
import { DataPlaneService } from '../../gen/artifactstore/v1/data_plane_service_pb.ts';
import { RegistryService } from '../../gen/artifactstore/v1/registry_service_pb.ts';

/** Tokens of two tenants, so tests can try one tenant's token on the other's package. */
export const TOKEN_A = 'tenant-a-token-0123456789abcdef';
export const TOKEN_B = 'tenant-b-token-0123456789abcdef';

/** A running control plane + data plane and clients for them. */
export interface Cluster {
  readonly controlPlane: RunningControlPlane;
  readonly dataPlane: RunningDataPlane;
  readonly backend: StorageBackend;
  /** The backend's root directory. */
  readonly root: string;
  readonly hashPool: HashPool;
  /** Registry client as tenant A. */
  readonly registry: Client<typeof RegistryService>;
  /** Data-plane client over gRPC (HTTP/2) as tenant A. */
  readonly grpc: Client<typeof DataPlaneService>;
  /** Creates an open package of tenant A and returns its id. */
  createPackage(): Promise<string>;
  /** Stores `bytes` at `path` of package `pkg` as tenant A (single-shot PUT); throws unless 201. */
  putFile(pkg: string, path: string, bytes: Uint8Array): Promise<void>;
  /** Where the local backend keeps the object of `bytes` (to damage or remove it in a test). */
  objectPath(bytes: Uint8Array): string;
  /** Every object file under the backend root (staging included, once the backend settled), relative paths. */
  storedFiles(): Promise<string[]>;
  close(): Promise<void>;
}

/** Starts a cluster; `maxUploadBytes` and `uploadSweepIntervalMs` are passed to the data plane, `wrapBackend` wraps its backend. */
export async function startCluster(options: { maxUploadBytes?: number; wrapBackend?: (backend: StorageBackend) => StorageBackend; controlPlaneClock?: Clock; uploadSweepIntervalMs?: number } = {}): Promise<Cluster> {
  const dir = await mkdtemp(join(tmpdir(), 'dp-test-'));
  const root = join(dir, 'objects');
  await mkdir(root);
  const controlPlane = await startControlPlane({
    host: '127.0.0.1',
    port: 0,
    dataDir: join(dir, 'cp'),
    database: { kind: 'pglite' },
    tokensEnv: `tenant-a:alice:${TOKEN_A},tenant-b:bob:${TOKEN_B}`,
    ...(options.controlPlaneClock === undefined ? {} : { clock: options.controlPlaneClock }),
  });
  const local = createLocalBackend({ id: 'local', root });
  const backend = options.wrapBackend?.(local) ?? local;
  const hashPool = createHashPool({ size: 2 });
  let dataPlane: RunningDataPlane;
  try {
    dataPlane = await startDataPlane({
      host: '127.0.0.1',
      port: 0,
      controlPlaneUrl: controlPlane.url,
      internalToken: controlPlane.internalToken,
      backend,
      hashPool,
      ...(options.maxUploadBytes === undefined ? {} : { maxUploadBytes: options.maxUploadBytes }),
      ...(options.uploadSweepIntervalMs === undefined ? {} : { uploadSweepIntervalMs: options.uploadSweepIntervalMs }),
    });
  } catch (error) {
    await controlPlane.close();
    throw error;
  }
  const auth: Interceptor = (next) => (req) => {
    req.header.set('Authorization', `Bearer ${TOKEN_A}`);
    return next(req);
  };
  const registry = createClient(RegistryService, createConnectTransport({ baseUrl: controlPlane.url, httpVersion: '1.1', interceptors: [auth] }));
  const grpc = createClient(DataPlaneService, createGrpcTransport({ baseUrl: dataPlane.url, interceptors: [auth] }));
  return {
    controlPlane,
    dataPlane,
    backend,
    root,
    hashPool,
    registry,
    grpc,
    async createPackage() {
      const { package: pkg } = await registry.createPackage({ producer: 'ci', subject: 'data-plane-test', retentionClass: 'transient' });
      if (pkg === undefined) throw new Error('no package returned');
      return pkg.packageId;
    },
    async putFile(pkg, path, bytes) {
      const res = await fetch(`${dataPlane.url}/packages/${pkg}/files/${path.split('/').map(encodeURIComponent).join('/')}`, { method: 'PUT', body: bytes, headers: { authorization: `Bearer ${TOKEN_A}` } });
      if (res.status !== 201) throw new Error(`PUT ${path}: ${res.status} ${await res.text()}`);
    },
    objectPath(bytes) {
      const hex = Buffer.from(blake3(bytes)).toString('hex');
      return join(root, 'blake3', hex.slice(0, 2), hex.slice(2, 4), hex);
    },
    async storedFiles() {
      await backend.settle(); // a duplicate's staged copy is removed after its commit answered
      // The data plane may remove a directory while the walk is in it (an upload sweep deleting a
      // session's parts): walk again, as a reader of a changing tree must.
      for (let attempt = 1; ; attempt++) {
        try {
          const entries = await readdir(root, { recursive: true, withFileTypes: true });
          return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(root.length + 1)).sort();
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 5) throw error;
        }
      }
    },
    async close() {
      await dataPlane.close();
      await controlPlane.close();
      await hashPool.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A raw HTTP/1.1 exchange (for raw paths and headers that fetch would normalise). */
export interface RawResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

/** Sends one request with `node:http` exactly as given (the path is not normalised). */
export function rawRequest(baseUrl: string, method: string, path: string, headers: Record<string, string> = {}, body?: Uint8Array): Promise<RawResponse> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Deterministic pseudo-random bytes. */
export function bytesOf(size: number, seed = 1): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}
