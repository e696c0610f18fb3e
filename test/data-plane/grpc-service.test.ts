// DataPlaneService over gRPC (h2c), Connect (HTTP/1.1) and gRPC-Web, real processes.
import { createHash } from 'node:crypto';
import { create } from '@bufbuild/protobuf';
import { Code, ConnectError, createClient, type Client, type Interceptor } from '@connectrpc/connect';
import { createConnectTransport, createGrpcWebTransport } from '@connectrpc/connect-node';
import { createAsyncIterable } from '@connectrpc/connect/protocol';
import { hash as blake3 } from 'blake3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataPlaneService, WriteFileRequestSchema, type WriteFileHeader, type WriteFileRequest } from '../../gen/artifactstore/v1/data_plane_service_pb.ts';
import { rejectionOf } from '../support/rejection.ts';
import { bytesOf, startCluster, TOKEN_A, type Cluster } from './cluster.ts';

const sha256 = (b: Uint8Array): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const b3 = (b: Uint8Array): string => `blake3:${Buffer.from(blake3(b)).toString('hex')}`;

let cluster: Cluster;
beforeAll(async () => {
  cluster = await startCluster();
});
afterAll(async () => {
  await cluster.close();
});

function writeStream(header: Partial<WriteFileHeader>, data: Uint8Array, chunk = 256 * 1024): AsyncIterable<WriteFileRequest> {
  const messages = [create(WriteFileRequestSchema, { kind: { case: 'header', value: header as WriteFileHeader } })];
  for (let at = 0; at < data.byteLength; at += chunk) messages.push(create(WriteFileRequestSchema, { kind: { case: 'data', value: data.subarray(at, at + chunk) } }));
  return createAsyncIterable(messages);
}

async function readAll(client: Client<typeof DataPlaneService>, request: Parameters<Client<typeof DataPlaneService>['readFile']>[0]): Promise<{ bytes: Buffer; chunks: number[] }> {
  const parts: Uint8Array[] = [];
  for await (const message of client.readFile(request)) parts.push(message.data);
  return { bytes: Buffer.concat(parts), chunks: parts.map((p) => p.byteLength) };
}

function connectError(action: Promise<unknown>): Promise<ConnectError> {
  return rejectionOf(action, ConnectError);
}

describe('DataPlaneService', () => {
  it('round-trips WriteFile and ReadFile with offset and limit over gRPC', async () => {
    const pkg = await cluster.createPackage();
    const data = bytesOf(3 * 1024 * 1024 + 123, 17);
    const { file } = await cluster.grpc.writeFile(writeStream({ packageId: pkg, relativePath: 'bin/tool', mediaType: 'application/x-executable', expectedSha256: sha256(data), expectedSize: BigInt(data.byteLength) }, data));
    expect(file?.digests).toMatchObject({ sha256: sha256(data), blake3: b3(data), size: BigInt(data.byteLength) });
    const whole = await readAll(cluster.grpc, { fileId: file?.fileId ?? '' });
    expect(Buffer.compare(whole.bytes, data)).toBe(0);
    expect(Math.max(...whole.chunks)).toBeLessThanOrEqual(1024 * 1024);
    const slice = await readAll(cluster.grpc, { packageId: pkg, relativePath: 'bin/tool', readOffset: 1_000_000n, readLimit: 2_000_000n });
    expect(Buffer.compare(slice.bytes, data.subarray(1_000_000, 3_000_000))).toBe(0);
    const tail = await readAll(cluster.grpc, { fileId: file?.fileId ?? '', readOffset: BigInt(data.byteLength - 10) });
    expect(Buffer.compare(tail.bytes, data.subarray(data.byteLength - 10))).toBe(0);
    const end = await readAll(cluster.grpc, { fileId: file?.fileId ?? '', readOffset: BigInt(data.byteLength) });
    expect(end.bytes.byteLength).toBe(0);
    const past = await connectError(readAll(cluster.grpc, { fileId: file?.fileId ?? '', readOffset: BigInt(data.byteLength + 1) }));
    expect(past.code).toBe(Code.OutOfRange);
    expect(past.metadata.get('artifactstore-reason')).toBe('range-not-satisfiable');
  });

  it('rejects a digest mismatch with InvalidArgument and stores nothing', async () => {
    const pkg = await cluster.createPackage();
    const before = await cluster.storedFiles();
    const data = bytesOf(5000, 1);
    const error = await connectError(cluster.grpc.writeFile(writeStream({ packageId: pkg, relativePath: 'a', expectedBlake3: b3(bytesOf(5000, 2)) }, data)));
    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.metadata.get('artifactstore-reason')).toBe('digest-mismatch');
    expect(error.rawMessage).toMatch(/^\[digest-mismatch\] /);
    expect((await cluster.registry.listFiles({ packageId: pkg })).files).toEqual([]);
    expect(await cluster.storedFiles()).toEqual(before);
  });

  it('refuses a stream without a header, and callers without a token', async () => {
    const pkg = await cluster.createPackage();
    const headless = createAsyncIterable([create(WriteFileRequestSchema, { kind: { case: 'data', value: new Uint8Array(3) } })]);
    expect((await connectError(cluster.grpc.writeFile(headless))).code).toBe(Code.InvalidArgument);
    const anonymous = createClient(DataPlaneService, createConnectTransport({ baseUrl: cluster.dataPlane.url, httpVersion: '1.1' }));
    const error = await connectError(anonymous.writeFile(writeStream({ packageId: pkg, relativePath: 'a' }, bytesOf(10))));
    expect(error.code).toBe(Code.Unauthenticated);
    expect(error.metadata.get('artifactstore-reason')).toBe('unauthenticated');
    expect((await cluster.registry.listFiles({ packageId: pkg })).files).toEqual([]);
  });

  it('passes the control plane\'s reasons on with its codes (ADR 0008), over gRPC and Connect', async () => {
    const connect = createClient(DataPlaneService, createConnectTransport({ baseUrl: cluster.dataPlane.url, httpVersion: '1.1', interceptors: [(next) => (req) => (req.header.set('authorization', `Bearer ${TOKEN_A}`), next(req))] }));
    for (const client of [cluster.grpc, connect]) {
      const unknownFile = await connectError(readAll(client, { fileId: 'file_01JZZZZZZZZZZZZZZZZZZZZZZZ' }));
      expect([unknownFile.code, unknownFile.metadata.get('artifactstore-reason')]).toEqual([Code.NotFound, 'not-found']);
      expect(unknownFile.rawMessage).toMatch(/^\[not-found\] /);
      // Both ways of naming a file at once is ambiguous, as GetFile says too.
      const both = await connectError(readAll(client, { fileId: 'file_01JZZZZZZZZZZZZZZZZZZZZZZZ', packageId: 'pkg_x', relativePath: 'a.txt' }));
      expect([both.code, both.metadata.get('artifactstore-reason'), both.rawMessage]).toEqual([Code.InvalidArgument, 'bad-request', '[bad-request] give either file_id, or package_id and relative_path']);
      const unknownUpload = await connectError(client.queryWriteStatus({ uploadId: 'upl_01JZZZZZZZZZZZZZZZZZZZZZZZ' }));
      expect([unknownUpload.code, unknownUpload.metadata.get('artifactstore-reason')]).toEqual([Code.NotFound, 'not-found']);
    }
  });

  it('resumes a write: resumable WriteFile, QueryWriteStatus, then finish at the offset', async () => {
    const pkg = await cluster.createPackage();
    const data = bytesOf(700_000, 33);
    const first = await cluster.grpc.writeFile(writeStream({ packageId: pkg, relativePath: 'resumed.bin', resumable: true, expectedSha256: sha256(data) }, data.subarray(0, 300_000)));
    expect(first.file).toBeUndefined();
    expect(first.committedSize).toBe(300_000n);
    const status = await cluster.grpc.queryWriteStatus({ uploadId: first.uploadId });
    expect(status).toMatchObject({ committedSize: 300_000n, complete: false });
    const wrong = await connectError(cluster.grpc.writeFile(writeStream({ uploadId: first.uploadId, writeOffset: 100n }, data.subarray(100))));
    expect(wrong.code).toBe(Code.FailedPrecondition);
    expect(wrong.metadata.get('artifactstore-upload-offset')).toBe('300000');
    const done = await cluster.grpc.writeFile(writeStream({ uploadId: first.uploadId, writeOffset: 300_000n }, data.subarray(300_000)));
    expect(done.file?.digests?.sha256).toBe(sha256(data));
    expect(await cluster.grpc.queryWriteStatus({ uploadId: first.uploadId })).toMatchObject({ complete: true });
    const back = await readAll(cluster.grpc, { fileId: done.file?.fileId ?? '' });
    expect(Buffer.compare(back.bytes, data)).toBe(0);
    expect((await cluster.storedFiles()).filter((f) => f.startsWith('uploads/'))).toEqual([]);
  });

  it('serves ReadFile over Connect (HTTP/1.1) and gRPC-Web as well', async () => {
    const pkg = await cluster.createPackage();
    const data = bytesOf(100_000, 8);
    const { file } = await cluster.grpc.writeFile(writeStream({ packageId: pkg, relativePath: 'x' }, data));
    const auth: Interceptor = (next) => (req) => {
      req.header.set('Authorization', `Bearer ${TOKEN_A}`);
      return next(req);
    };
    for (const transport of [
      createConnectTransport({ baseUrl: cluster.dataPlane.url, httpVersion: '1.1', interceptors: [auth] }),
      createConnectTransport({ baseUrl: cluster.dataPlane.url, httpVersion: '2', interceptors: [auth] }),
      createGrpcWebTransport({ baseUrl: cluster.dataPlane.url, httpVersion: '1.1', interceptors: [auth] }),
    ]) {
      const client = createClient(DataPlaneService, transport);
      const back = await readAll(client, { fileId: file?.fileId ?? '', readOffset: 10n, readLimit: 20n });
      expect(Buffer.compare(back.bytes, data.subarray(10, 30))).toBe(0);
    }
  });
});
