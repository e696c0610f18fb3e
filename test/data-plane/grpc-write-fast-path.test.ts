// The gRPC WriteFile fast path (ADR 0019) on a real data plane: it serves the calls it should, stores
// exactly the bytes the messages mean, answers every refusal exactly as connect-node does for the same
// bytes, and leaves nothing behind a cancelled call.
import { createHash } from 'node:crypto';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { hash as blake3 } from 'blake3';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { WriteFileFrameParser } from '../../data-plane/grpc/write-file-frames.ts';
import { WRITE_FILE_PATH } from '../../data-plane/grpc/write-file-fast-path.ts';
import { WriteFileRequestSchema, WriteFileResponseSchema, type WriteFileHeader } from '../../gen/artifactstore/v1/data_plane_service_pb.ts';
import { grpcEnvelope, rawGrpcCall, type RawGrpcAnswer } from '../support/grpc-raw-call.ts';
import { bytesOf, startCluster, TOKEN_A, TOKEN_B, type Cluster } from './cluster.ts';
import { wrapWriters } from './wrap-writers.ts';

const sha256 = (b: Uint8Array): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const b3 = (b: Uint8Array): string => `blake3:${Buffer.from(blake3(b)).toString('hex')}`;
const AUTH = { authorization: `Bearer ${TOKEN_A}` };
/** Sends the same bytes to connect-node: it accepts gzip, and messages without the compressed flag are not compressed. */
const VIA_CONNECT = { 'grpc-encoding': 'gzip' };

let cluster: Cluster;
beforeAll(async () => {
  cluster = await startCluster();
});
afterAll(async () => {
  await cluster.close();
});
afterEach(() => {
  vi.restoreAllMocks();
});

const headerMessage = (header: Partial<WriteFileHeader>): Uint8Array => grpcEnvelope(toBinary(WriteFileRequestSchema, create(WriteFileRequestSchema, { kind: { case: 'header', value: header as WriteFileHeader } })));
const dataMessage = (payload: Uint8Array): Uint8Array => grpcEnvelope(toBinary(WriteFileRequestSchema, create(WriteFileRequestSchema, { kind: { case: 'data', value: payload } })));

/** Splits `bytes` at `points` (the writes a client makes; the server's chunks follow them loosely). */
function splitAt(bytes: Uint8Array, points: readonly number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let from = 0;
  for (const point of points) {
    out.push(bytes.subarray(from, point));
    from = point;
  }
  out.push(bytes.subarray(from));
  return out.filter((p) => p.byteLength > 0);
}

function storedFile(answer: RawGrpcAnswer): { size: bigint; sha256: string; blake3: string } {
  expect([answer.status, answer.message]).toEqual(['0', undefined]);
  const response = fromBinary(WriteFileResponseSchema, answer.body.subarray(5));
  return { size: response.file?.digests?.size ?? -1n, sha256: response.file?.digests?.sha256 ?? '', blake3: response.file?.digests?.blake3 ?? '' };
}

describe('gRPC WriteFile fast path', () => {
  it('serves gRPC WriteFile calls and stores what the messages mean, however the client splits and encodes them', async () => {
    const parse = vi.spyOn(WriteFileFrameParser.prototype, 'push');
    const pkg = await cluster.createPackage();
    const part1 = bytesOf(3 * 1024 * 1024 + 17, 3);
    const part2 = bytesOf(70_000, 4);
    // A data message with two data fields means the last one; a padded length varint is still a length.
    const twoFields = grpcEnvelope(Uint8Array.from([...toBinary(WriteFileRequestSchema, create(WriteFileRequestSchema, { kind: { case: 'data', value: bytesOf(10, 5) } })), 0x12, 0x03, 7, 8, 9]));
    const padded = grpcEnvelope(Uint8Array.from([0x12, 0x85, 0x80, 0x00, 1, 2, 3, 4, 5]));
    const empty = grpcEnvelope(new Uint8Array(0));
    const meaning = Buffer.concat([part1, Uint8Array.from([7, 8, 9]), Uint8Array.from([1, 2, 3, 4, 5]), part2]);
    const wire = Buffer.concat([headerMessage({ packageId: pkg, relativePath: 'framed.bin', expectedSha256: sha256(meaning) }), dataMessage(part1), twoFields, empty, padded, dataMessage(part2)]);
    const answer = await rawGrpcCall(cluster.dataPlane.url, WRITE_FILE_PATH, AUTH, splitAt(wire, [1, 3, 7, 20, 1000, 1001, 1_048_576, 2_000_000, wire.byteLength - 70_003, wire.byteLength - 5]));
    expect(storedFile(answer)).toEqual({ size: BigInt(meaning.byteLength), sha256: sha256(meaning), blake3: b3(meaning) });
    expect(parse).toHaveBeenCalled();
    // The same bytes through connect-node store the same file.
    parse.mockClear();
    const again = await rawGrpcCall(cluster.dataPlane.url, WRITE_FILE_PATH, { ...AUTH, ...VIA_CONNECT }, [Buffer.concat([headerMessage({ packageId: pkg, relativePath: 'framed-again.bin' }), wire.subarray(headerMessage({ packageId: pkg, relativePath: 'framed.bin', expectedSha256: sha256(meaning) }).byteLength)])]);
    expect(storedFile(again)).toEqual(storedFile(answer));
    expect(parse).not.toHaveBeenCalled();
  });

  it('reads a timeout longer than a timer can wait (a month) as a long one, not as one passed at once', async () => {
    const pkg = await cluster.createPackage();
    const data = bytesOf(70_000, 4);
    for (const extra of [{}, VIA_CONNECT]) {
      const month = await rawGrpcCall(cluster.dataPlane.url, WRITE_FILE_PATH, { ...AUTH, ...extra, 'grpc-timeout': '720H' }, [headerMessage({ packageId: pkg, relativePath: `month-${Object.keys(extra).length}.bin` }), dataMessage(data)]);
      expect(storedFile(month).sha256).toBe(sha256(data));
    }
    // Connect's own header, on another method: answered (an unknown session), not DEADLINE_EXCEEDED.
    const res = await fetch(`${cluster.dataPlane.url}/artifactstore.v1.DataPlaneService/QueryWriteStatus`, {
      method: 'POST',
      headers: { ...AUTH, 'content-type': 'application/json', 'connect-timeout-ms': '2592000000' },
      body: JSON.stringify({ uploadId: 'upl_01JZZZZZZZZZZZZZZZZZZZZZZZ' }),
    });
    expect([res.status, ((await res.json()) as { code?: string }).code]).toEqual([404, 'not_found']);
  });

  it('answers every refusal exactly as connect-node does for the same bytes, and stores nothing', async () => {
    const pkg = await cluster.createPackage();
    const before = await cluster.storedFiles();
    const data = bytesOf(300_000, 6);
    const header = (path: string, extra: Partial<WriteFileHeader> = {}): Uint8Array => headerMessage({ packageId: pkg, relativePath: path, ...extra });
    const tooLarge = Uint8Array.from([0, 0x01, 0x00, 0x00, 0x01]); // a prefix announcing 16 MiB + 1
    const cases: { name: string; headers?: Record<string, string>; pieces: (path: string) => Uint8Array[]; endAfterMs?: number; status: string; reason: string }[] = [
      { name: 'no message', pieces: () => [], status: '3', reason: 'bad-request' },
      { name: 'data first', pieces: () => [dataMessage(data)], status: '3', reason: 'bad-request' },
      { name: 'an empty data message first', pieces: (p) => [dataMessage(new Uint8Array(0)), header(p), dataMessage(data)], status: '3', reason: 'bad-request' },
      { name: 'malformed authorization, client idle', headers: { authorization: 'Basic YTpi' }, pieces: () => [], endAfterMs: 3000, status: '16', reason: 'unauthenticated' },
      { name: 'header and a malformed message in one write, foreign token', headers: { authorization: `Bearer ${TOKEN_B}` }, pieces: (p) => [Buffer.concat([header(p), grpcEnvelope(Uint8Array.from([0x12, 0x09, 1]))])], status: '5', reason: 'not-found' },
      { name: 'a second header', pieces: (p) => [header(p), dataMessage(data), header(p)], status: '3', reason: 'bad-request' },
      { name: 'digest mismatch', pieces: (p) => [header(p, { expectedBlake3: b3(bytesOf(10, 1)) }), dataMessage(data)], status: '3', reason: 'digest-mismatch' },
      { name: 'size mismatch', pieces: (p) => [header(p, { expectedSize: 5n }), dataMessage(data)], status: '3', reason: 'size-mismatch' },
      { name: 'traversal path', pieces: () => [header('../escape'), dataMessage(data)], status: '3', reason: 'invalid-path' },
      { name: 'unknown package', pieces: (p) => [headerMessage({ packageId: 'pkg_01JZZZZZZZZZZZZZZZZZZZZZZZ', relativePath: p }), dataMessage(data)], status: '5', reason: 'not-found' },
      { name: 'no token', headers: { authorization: '' }, pieces: (p) => [header(p), dataMessage(data)], status: '16', reason: 'unauthenticated' },
      { name: 'foreign token', headers: { authorization: `Bearer ${TOKEN_B}` }, pieces: (p) => [header(p), dataMessage(data)], status: '5', reason: 'not-found' },
      { name: 'stream ends inside a message', pieces: (p) => [header(p), dataMessage(data).subarray(0, 1000)], status: '3', reason: 'bad-request' },
      { name: 'message over the limit', pieces: (p) => [header(p), tooLarge], status: '8', reason: 'payload-too-large' },
      { name: 'malformed message', pieces: (p) => [header(p), grpcEnvelope(Uint8Array.from([0x12, 0x09, 1]))], status: '3', reason: 'bad-request' },
      { name: 'deadline passes', headers: { 'grpc-timeout': '300m' }, pieces: (p) => [header(p), dataMessage(data)], endAfterMs: 1000, status: '4', reason: 'deadline-exceeded' },
      { name: 'malformed grpc-timeout', headers: { 'grpc-timeout': 'soon' }, pieces: (p) => [header(p), dataMessage(data)], status: '3', reason: 'bad-request' },
    ];
    for (const [i, c] of cases.entries()) {
      const headers = { ...AUTH, ...c.headers };
      if (headers.authorization === '') delete (headers as Record<string, string>).authorization;
      const options = c.endAfterMs === undefined ? {} : { endAfterMs: c.endAfterMs };
      const fast = await rawGrpcCall(cluster.dataPlane.url, WRITE_FILE_PATH, headers, c.pieces(`fast-${i}.bin`), options);
      const connect = await rawGrpcCall(cluster.dataPlane.url, WRITE_FILE_PATH, { ...headers, ...VIA_CONNECT }, c.pieces(`connect-${i}.bin`), options);
      expect({ name: c.name, status: fast.status, reason: fast.reason, message: fast.message?.replace('fast-', '') }).toEqual({ name: c.name, status: connect.status, reason: connect.reason, message: connect.message?.replace('connect-', '') });
      expect({ name: c.name, status: fast.status, reason: fast.reason }).toEqual({ name: c.name, status: c.status, reason: c.reason });
      // Answered as soon as the answer is known, not when the client ends the stream.
      if (c.endAfterMs !== undefined && c.reason !== 'deadline-exceeded') expect({ name: c.name, fast: fast.answeredBeforeEnd, connect: connect.answeredBeforeEnd }).toEqual({ name: c.name, fast: true, connect: true });
    }
    expect((await cluster.registry.listFiles({ packageId: pkg })).files).toEqual([]);
    expect(await cluster.storedFiles()).toEqual(before);
  });

  it('refuses a compressed message on a call that negotiated no compression', async () => {
    const pkg = await cluster.createPackage();
    const answer = await rawGrpcCall(cluster.dataPlane.url, WRITE_FILE_PATH, AUTH, [headerMessage({ packageId: pkg, relativePath: 'c.bin' }), grpcEnvelope(new Uint8Array(10), 1)]);
    expect([answer.status, answer.reason, answer.message]).toEqual(['3', 'bad-request', '[bad-request] received compressed envelope, but do not know how to decompress']);
  });

  it('answers a refused call at once while the client still sends, and stores nothing of a cancelled one', async () => {
    const pkg = await cluster.createPackage();
    const before = await cluster.storedFiles();
    const chunk = dataMessage(bytesOf(1024 * 1024, 8));
    const many = Array.from({ length: 64 }, () => chunk);
    // Refused at the header (foreign package): the status comes before the 64 MiB are sent...
    const refused = await rawGrpcCall(cluster.dataPlane.url, WRITE_FILE_PATH, { authorization: `Bearer ${TOKEN_B}` }, [headerMessage({ packageId: pkg, relativePath: 'r.bin' }), ...many], { stopOnAnswer: true });
    expect([refused.status, refused.reason]).toEqual(['5', 'not-found']);
    expect(refused.written).toBeLessThan(many.length);
    // ...and a client that sends everything all the same is not left hanging on flow control: the rest
    // is read and dropped.
    const stubborn = await rawGrpcCall(cluster.dataPlane.url, WRITE_FILE_PATH, { authorization: `Bearer ${TOKEN_B}` }, [headerMessage({ packageId: pkg, relativePath: 'r.bin' }), ...many]);
    expect([stubborn.status, stubborn.reason, stubborn.written]).toEqual(['5', 'not-found', many.length + 1]);
    // Cancelled by the client after 8 MiB: nothing recorded, nothing left in storage.
    const cancelled = await rawGrpcCall(cluster.dataPlane.url, WRITE_FILE_PATH, AUTH, [headerMessage({ packageId: pkg, relativePath: 'x.bin' }), ...many], { cancelAfter: 9 });
    expect(cancelled.status).toBeUndefined();
    await vi.waitFor(async () => expect(await cluster.storedFiles()).toEqual(before), { timeout: 10_000, interval: 100 });
    expect((await cluster.registry.listFiles({ packageId: pkg })).files).toEqual([]);
    // And the data plane goes on serving.
    const data = bytesOf(5000, 9);
    const ok = await rawGrpcCall(cluster.dataPlane.url, WRITE_FILE_PATH, AUTH, [headerMessage({ packageId: pkg, relativePath: 'after.bin' }), dataMessage(data)]);
    expect(storedFile(ok).sha256).toBe(sha256(data));
  });

  it('stops reading the stream while the storage does not keep up, and goes on when it does', async () => {
    // A backend whose writes wait at a gate: the ingest's promise stays pending, so the request must be
    // paused and HTTP/2 flow control must stop the client, instead of the data plane reading (and
    // queueing) everything the client sends.
    let open: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (open = resolve));
    let writes = 0;
    const gated = await startCluster({
      wrapBackend: (inner) =>
        wrapWriters(inner, (writer) => ({
          async write(chunk) {
            writes += 1;
            await gate;
            return writer.write(chunk);
          },
        })),
    });
    try {
      const pkg = await gated.createPackage();
      const payload = bytesOf(1024 * 1024, 10);
      const messages = 256;
      const progress = { written: 0 };
      const whole = createHash('sha256');
      for (let i = 0; i < messages; i++) whole.update(payload);
      const call = rawGrpcCall(gated.dataPlane.url, WRITE_FILE_PATH, AUTH, [headerMessage({ packageId: pkg, relativePath: 'held.bin' }), ...Array.from({ length: messages }, () => dataMessage(payload))], { progress });
      await vi.waitFor(() => expect(writes).toBeGreaterThan(0), { timeout: 10_000 });
      // The client stalls: the stream's window (16 MiB) and what the feed holds (24 MiB) bound it.
      let last = -1;
      await vi.waitFor(
        () => {
          const now = progress.written;
          const still = now === last;
          last = now;
          expect(still).toBe(true);
        },
        { timeout: 20_000, interval: 500 },
      );
      expect(progress.written).toBeLessThan(100);
      open();
      const answer = await call;
      expect(storedFile(answer)).toEqual({ size: BigInt(messages * payload.byteLength), sha256: `sha256:${whole.digest('hex')}`, blake3: storedFile(answer).blake3 });
    } finally {
      open();
      await gated.close();
    }
  });
});
