/**
 * The cheapest gRPC client for `DataPlaneService.WriteFile`: a `node:http2` stream onto which the
 * length-prefixed messages are written as bytes. The data message of the reused chunk is encoded once and
 * the same bytes are written again and again, so the client spends nothing per message but the write:
 * on a 2-core machine every cycle the client saves is one the service can use, as with curl for
 * downloads. The bytes on the wire are exactly a gRPC client's (`application/grpc+proto`, 5-byte message
 * prefixes, `te: trailers`); the service cannot tell the difference. The answer is checked: `grpc-status`
 * 0 and one `WriteFileResponse`.
 */
import { once } from 'node:events';
import { connect, type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import { create, fromBinary, toBinary, type MessageInitShape } from '@bufbuild/protobuf';
import { WriteFileHeaderSchema, WriteFileRequestSchema, WriteFileResponseSchema, type WriteFileResponse } from '../gen/artifactstore/v1/data_plane_service_pb.ts';
import { chunksOf } from './byte-source.ts';
import type { BenchService } from './service-processes.ts';

const STREAM_WINDOW = 16 * 1024 * 1024;

/** WriteFile over one HTTP/2 connection. */
export interface RawGrpcWriter {
  /** Streams the header, then `size` bytes of `chunk` repeated (1 message per chunk); resolves with the answer. */
  writeFile(header: MessageInitShape<typeof WriteFileHeaderSchema>, chunk: Uint8Array, size: number): Promise<WriteFileResponse>;
  close(): void;
}

/** A gRPC message with its 5-byte prefix (uncompressed, big-endian length). */
function envelope(message: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + message.byteLength);
  out.writeUInt8(0, 0);
  out.writeUInt32BE(message.byteLength, 1);
  out.set(message, 5);
  return out;
}

function dataEnvelope(part: Uint8Array): Buffer {
  return envelope(toBinary(WriteFileRequestSchema, create(WriteFileRequestSchema, { kind: { case: 'data', value: part } })));
}

async function write(stream: ClientHttp2Stream, bytes: Uint8Array): Promise<void> {
  if (!stream.write(bytes)) await once(stream, 'drain');
}

/** Opens a connection to the service's data plane. */
export function createRawGrpcWriter(service: BenchService): RawGrpcWriter {
  const session: ClientHttp2Session = connect(service.dataUrl, { settings: { initialWindowSize: STREAM_WINDOW } });
  session.on('error', () => undefined); // surfaces on the stream of the call in flight
  const encoded = new WeakMap<Uint8Array, Buffer>();
  return {
    async writeFile(header, chunk, size) {
      const stream = session.request({
        ':method': 'POST',
        ':path': '/artifactstore.v1.DataPlaneService/WriteFile',
        'content-type': 'application/grpc+proto',
        te: 'trailers',
        authorization: `Bearer ${service.token}`,
      });
      const answer: Buffer[] = [];
      let status: { code: string; message: string } | undefined;
      const readStatus = (headers: IncomingHttpHeaders): void => {
        const code = headers['grpc-status'];
        const message = headers['grpc-message'];
        if (typeof code === 'string') status = { code, message: decodeURIComponent(typeof message === 'string' ? message : '') };
      };
      stream.on('response', readStatus); // a trailers-only answer (an error before any message)
      stream.on('trailers', readStatus);
      stream.on('data', (part: Buffer) => answer.push(part));
      const ended = once(stream, 'close');
      await write(stream, envelope(toBinary(WriteFileRequestSchema, create(WriteFileRequestSchema, { kind: { case: 'header', value: create(WriteFileHeaderSchema, header) } }))));
      let whole = encoded.get(chunk);
      if (whole === undefined) {
        whole = dataEnvelope(chunk);
        encoded.set(chunk, whole);
      }
      for (const part of chunksOf(chunk, size)) {
        if (stream.destroyed) break;
        await write(stream, part.byteLength === chunk.byteLength ? whole : dataEnvelope(part));
      }
      stream.end();
      await ended;
      if (status === undefined) throw new Error(`WriteFile: the stream closed without a gRPC status (HTTP/2 code ${stream.rstCode ?? 'none'})`);
      if (status.code !== '0') throw new Error(`WriteFile: gRPC status ${status.code}: ${status.message}`);
      const body = Buffer.concat(answer);
      if (body.byteLength < 5 || body.readUInt32BE(1) !== body.byteLength - 5) throw new Error(`WriteFile: expected one response message, got ${body.byteLength} bytes`);
      return fromBinary(WriteFileResponseSchema, body.subarray(5));
    },
    close() {
      session.close();
    },
  };
}
