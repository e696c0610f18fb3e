/**
 * The cheapest gRPC client for `DataPlaneService.WriteFile`: a `node:http2` stream onto which the
 * length-prefixed messages are written as bytes. The data message of the reused chunk is encoded once and
 * the same bytes are written again and again, so the client spends nothing per message but the write:
 * on a 2-core machine every cycle the client saves is one the service can use, as with curl for
 * downloads. The bytes on the wire are exactly a gRPC client's (`application/grpc+proto`, 5-byte message
 * prefixes, `te: trailers`); the service cannot tell the difference. The answer is checked: `grpc-status`
 * 0 and exactly one `WriteFileResponse`. A server that answers before the upload is over (a refusal)
 * ends the writing at once, and its status is reported.
 */
import { connect, constants, type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import { create, fromBinary, toBinary, type MessageInitShape } from '@bufbuild/protobuf';
import { WriteFileHeaderSchema, WriteFileRequestSchema, WriteFileResponseSchema, type WriteFileResponse } from '../gen/artifactstore/v1/data_plane_service_pb.ts';
import { chunksOf } from './byte-source.ts';
import type { BenchService } from './service-processes.ts';

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

function decodeMessage(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** One call: writes until done or until the server has answered, then reads the status. */
class Call {
  readonly #stream: ClientHttp2Stream;
  readonly #answer: Buffer[] = [];
  readonly #closed: Promise<void>;
  #status: { code: string; message: string } | undefined;
  #error: Error | undefined;

  constructor(stream: ClientHttp2Stream) {
    this.#stream = stream;
    const readStatus = (headers: IncomingHttpHeaders): void => {
      const code = headers['grpc-status'];
      const message = headers['grpc-message'];
      if (typeof code === 'string') this.#status = { code, message: decodeMessage(typeof message === 'string' ? message : '') };
    };
    stream.on('response', readStatus); // a trailers-only answer (an error before any message)
    stream.on('trailers', readStatus);
    stream.on('data', (part: Buffer) => this.#answer.push(part));
    stream.on('error', (error: Error) => (this.#error ??= error));
    this.#closed = new Promise((resolve) => stream.once('close', resolve));
  }

  /** True once the server has said how the call ended, or the stream is gone: stop writing. */
  get over(): boolean {
    return this.#status !== undefined || this.#stream.destroyed || this.#stream.closed;
  }

  /** Writes `bytes`, waiting while the stream is flow-controlled, unless the call ends meanwhile. */
  async write(bytes: Uint8Array): Promise<void> {
    if (this.#stream.write(bytes)) return;
    const stream = this.#stream;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        stream.off('drain', done);
        stream.off('trailers', done);
        stream.off('response', done);
        stream.off('close', done);
        resolve();
      };
      stream.on('drain', done);
      stream.on('trailers', done);
      stream.on('response', done);
      stream.on('close', done);
    });
  }

  /** Ends the request (or cancels it when the server already answered) and returns the response. */
  async finish(): Promise<WriteFileResponse> {
    if (this.#status !== undefined && !this.#stream.closed) this.#stream.close(constants.NGHTTP2_CANCEL);
    else this.#stream.end();
    await this.#closed;
    if (this.#status === undefined) throw new Error(`WriteFile: the stream closed without a gRPC status (HTTP/2 code ${this.#stream.rstCode ?? 'none'}${this.#error === undefined ? '' : `, ${this.#error.message}`})`);
    if (this.#status.code !== '0') throw new Error(`WriteFile: gRPC status ${this.#status.code}: ${this.#status.message}`);
    const body = Buffer.concat(this.#answer);
    if (body.byteLength < 5 || body.readUInt32BE(1) !== body.byteLength - 5) throw new Error(`WriteFile: expected one response message, got ${body.byteLength} bytes`);
    return fromBinary(WriteFileResponseSchema, body.subarray(5));
  }
}

/** Opens a connection to the service's data plane. */
export function createRawGrpcWriter(service: BenchService): RawGrpcWriter {
  const session: ClientHttp2Session = connect(service.dataUrl);
  session.on('error', () => undefined); // surfaces on the stream of the call in flight
  const encoded = new WeakMap<Uint8Array, Buffer>();
  return {
    async writeFile(header, chunk, size) {
      const call = new Call(
        session.request({
          ':method': 'POST',
          ':path': '/artifactstore.v1.DataPlaneService/WriteFile',
          'content-type': 'application/grpc+proto',
          te: 'trailers',
          authorization: `Bearer ${service.token}`,
        }),
      );
      await call.write(envelope(toBinary(WriteFileRequestSchema, create(WriteFileRequestSchema, { kind: { case: 'header', value: create(WriteFileHeaderSchema, header) } }))));
      let whole = encoded.get(chunk);
      if (whole === undefined) {
        whole = dataEnvelope(chunk);
        encoded.set(chunk, whole);
      }
      for (const part of chunksOf(chunk, size)) {
        if (call.over) break;
        await call.write(part.byteLength === chunk.byteLength ? whole : dataEnvelope(part));
      }
      return call.finish();
    },
    close() {
      session.close();
    },
  };
}
