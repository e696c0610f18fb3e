/**
 * Clients the service benchmarks drive a {@link BenchService} with: the registry over Connect (HTTP/1.1,
 * binary, as the CLI does), the registry and the data plane over gRPC (h2c), and plain HTTP byte
 * transfer with a keep-alive agent or curl. Bytes are streamed from views of one reused chunk and never
 * collected: a benchmark must not hold 1 GiB in memory.
 */
import { execFile } from 'node:child_process';
import { Agent, request, type IncomingMessage } from 'node:http';
import { createClient, type Client, type Interceptor } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport } from '@connectrpc/connect-node';
import { DataPlaneService } from '../gen/artifactstore/v1/data_plane_service_pb.ts';
import { RegistryService } from '../gen/artifactstore/v1/registry_service_pb.ts';
import { chunksOf } from './byte-source.ts';
import type { BenchService } from './service-processes.ts';

function bearer(token: string): Interceptor {
  return (next) => (req) => {
    req.header.set('Authorization', `Bearer ${token}`);
    return next(req);
  };
}

/** RegistryService over Connect, HTTP/1.1, binary protobuf (the CLI's transport). */
export function registryClient(service: BenchService): Client<typeof RegistryService> {
  return createClient(RegistryService, createConnectTransport({ baseUrl: service.controlUrl, httpVersion: '1.1', useBinaryFormat: true, interceptors: [bearer(service.token)] }));
}

/** RegistryService over gRPC (h2c), for server streams. */
export function registryGrpcClient(service: BenchService): Client<typeof RegistryService> {
  return createClient(RegistryService, createGrpcTransport({ baseUrl: service.controlUrl, interceptors: [bearer(service.token)] }));
}

/** DataPlaneService over gRPC (h2c) with connect-node's default session options. */
export function dataPlaneGrpcClient(service: BenchService): Client<typeof DataPlaneService> {
  return createClient(DataPlaneService, createGrpcTransport({ baseUrl: service.dataUrl, interceptors: [bearer(service.token)] }));
}

/** Creates an open package for a benchmark; returns its id. */
export async function createBenchPackage(registry: Client<typeof RegistryService>, subject: string): Promise<string> {
  const { package: created } = await registry.createPackage({ producer: 'bench', subject, retentionClass: 'transient', metadata: {} });
  if (created === undefined) throw new Error('CreatePackage returned no package');
  return created.packageId;
}

/** The data plane's JSON for a stored file (the part the benchmarks read). */
export interface StoredFileJson {
  readonly file_id: string;
  readonly digests: { readonly blake3: string; readonly sha256: string; readonly size?: string };
}

/** Plain HTTP to one data plane over a keep-alive connection. */
export interface ByteClient {
  /** `PUT /packages/{id}/files/{path}` of `size` bytes of `chunk` repeated; resolves with the stored file. */
  put(packageId: string, relativePath: string, chunk: Uint8Array, size: number): Promise<StoredFileJson>;
  /** `GET /files/{id}/download`, reading and discarding the body; resolves with the byte count. */
  download(fileId: string): Promise<number>;
  close(): void;
}

async function readText(res: IncomingMessage): Promise<string> {
  const parts: Buffer[] = [];
  for await (const part of res) parts.push(part as Buffer);
  return Buffer.concat(parts).toString('utf8');
}

/**
 * `PUT url` with `size` bytes of `chunk` repeated, written with backpressure as views of the one chunk
 * (never a copy, never collected); resolves with the status and the response body as text.
 */
export function putBytes(url: string, options: { readonly agent: Agent; readonly headers: Readonly<Record<string, string>> }, chunk: Uint8Array, size: number): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'PUT', agent: options.agent, headers: { ...options.headers, 'content-type': 'application/octet-stream', 'content-length': size } }, (res) => {
      readText(res).then((text) => resolve({ status: res.statusCode ?? 0, text }), reject);
    });
    req.on('error', reject);
    const parts = chunksOf(chunk, size);
    const pump = (): void => {
      for (let step = parts.next(); step.done !== true; step = parts.next()) {
        if (!req.write(step.value)) {
          req.once('drain', pump);
          return;
        }
      }
      req.end();
    };
    pump();
  });
}

/** Creates a {@link ByteClient} for `service`'s data plane. */
export function createByteClient(service: BenchService): ByteClient {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const auth = { authorization: `Bearer ${service.token}` };
  return {
    put(packageId, relativePath, chunk, size) {
      const path = `/packages/${encodeURIComponent(packageId)}/files/${relativePath.split('/').map(encodeURIComponent).join('/')}`;
      return putBytes(`${service.dataUrl}${path}`, { agent, headers: auth }, chunk, size).then(({ status, text }) => {
        if (status !== 201) throw new Error(`PUT ${path}: ${status} ${text.slice(0, 500)}`);
        return JSON.parse(text) as StoredFileJson;
      });
    },
    download(fileId) {
      return new Promise((resolve, reject) => {
        const req = request(`${service.dataUrl}/files/${encodeURIComponent(fileId)}/download`, { method: 'GET', agent, headers: auth }, (res) => {
          if (res.statusCode !== 200) {
            readText(res).then((text) => reject(new Error(`GET file ${fileId}: ${res.statusCode ?? '?'} ${text.slice(0, 500)}`)), reject);
            return;
          }
          let bytes = 0;
          res.on('data', (part: Buffer) => (bytes += part.byteLength));
          res.once('end', () => resolve(bytes));
          res.once('error', reject);
        });
        req.on('error', reject);
        req.end();
      });
    },
    close() {
      agent.destroy();
    },
  };
}

/** True when a `curl` binary runs here. */
export function curlAvailable(): Promise<boolean> {
  return new Promise((resolve) => execFile('curl', ['--version'], (error) => resolve(error === null)));
}

/**
 * `GET /files/{id}/download` with curl writing to /dev/null; resolves with the byte count. curl costs
 * far less CPU per byte than a node:http client (which allocates every 64 KiB chunk it reads), and on a
 * small machine the client shares the cores with the data plane.
 */
export function curlDownload(service: BenchService, fileId: string): Promise<number> {
  return curlGet(`${service.dataUrl}/files/${encodeURIComponent(fileId)}/download`, { Authorization: `Bearer ${service.token}` });
}

/** GET `url` with curl writing to /dev/null; resolves with the byte count, rejects unless the status is 200. */
export function curlGet(url: string, headers: Readonly<Record<string, string>> = {}): Promise<number> {
  const headerArgs = Object.entries(headers).flatMap(([name, value]) => ['-H', `${name}: ${value}`]);
  return new Promise((resolve, reject) => {
    execFile('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code} %{size_download}', ...headerArgs, url], (error, stdout, stderr) => {
      const [status, bytes] = stdout.trim().split(' ');
      if (error !== null) reject(new Error(`curl ${url}: ${stderr || error.message}`));
      else if (status !== '200') reject(new Error(`curl ${url}: status ${status ?? '?'}`));
      else resolve(Number(bytes));
    });
  });
}
