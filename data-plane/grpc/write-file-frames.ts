/**
 * The gRPC framing of a `DataPlaneService.WriteFile` request stream, parsed as its bytes arrive (ADR
 * 0019), for the fast path in `write-file-fast-path.ts`.
 *
 * A gRPC message is a 5-byte prefix (flags, then the length, big-endian) and the encoded
 * `WriteFileRequest`. A data message encodes as the tag of field 2 (`0x12`), the payload's length as a
 * varint, and the payload: exactly one field spanning the whole message. Such a message is not
 * assembled: its payload goes out as views of the chunks it arrived in, so the block feed's copy is the
 * only one. Every other message (the header, an empty message, a data message with more than one field
 * or unknown fields) is gathered whole and decoded by protobuf-es, with its usual semantics (the last
 * field of a oneof wins). The limits and errors are connect-node's for the same stream: a message over
 * `readMaxBytes` is RESOURCE_EXHAUSTED, a compressed message (no compression is negotiated on this
 * path) is INTERNAL, a stream that ends inside a message is INVALID_ARGUMENT. An error takes its place
 * in the stream ({@link FrameError}) rather than cancelling the messages before it in the same chunk:
 * like connect-node, which decodes a message only when the handler asks for the next one, a header
 * followed by a malformed message is answered for the header (an unknown package, say) first.
 * connect-node checks a message's size earlier, as it splits each chunk it reads into messages, so an
 * oversized message in the chunk that carries the header is answered for its size there; whether it
 * is depends on how the bytes were buffered, and here it is always answered in its place.
 */
import { fromBinary } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import { WriteFileRequestSchema, type WriteFileRequest } from '../../gen/artifactstore/v1/data_plane_service_pb.ts';

/** Where the stream stopped making sense: the error (a ConnectError), in stream order. */
export class FrameError {
  constructor(readonly error: unknown) {}
}

/**
 * What a chunk yields: payload bytes of a data message (every data message yields at least one piece,
 * an empty one for an empty payload, as it begins), a message decoded whole, or the error after which
 * nothing more comes.
 */
export type WriteFilePiece = Uint8Array | WriteFileRequest | FrameError;

/** The gRPC message prefix: 1 flag byte, 4 length bytes. */
const PREFIX_BYTES = 5;
/** The flag bit of a compressed message. */
const COMPRESSED_FLAG = 0b1;
/** The tag of `WriteFileRequest.data`: field 2, wire type 2 (length-delimited). */
const DATA_TAG = (2 << 3) | 2;
/** The tag (1 byte) and the longest varint (10 bytes): enough to decide how to take a message. */
const LEAD_BYTES = 11;

type State = 'prefix' | 'lead' | 'stream' | 'gather';

/** A push parser for one WriteFile request stream. */
export class WriteFileFrameParser {
  readonly #readMaxBytes: number;
  readonly #prefix = new Uint8Array(PREFIX_BYTES);
  #state: State = 'prefix';
  /** Bytes of the current state's target filled so far (prefix, lead or gathered message). */
  #filled = 0;
  /** Bytes of the current message not yet taken. */
  #remaining = 0;
  /** The current message's first bytes (`lead`), or the whole message (`gather`). */
  #buffer = new Uint8Array(0);
  /** Set once an error was queued: nothing is parsed after it. */
  #failed = false;

  constructor(readMaxBytes: number) {
    this.#readMaxBytes = readMaxBytes;
  }

  /**
   * Parses `chunk`, appending what it completes to `out` in stream order: data payloads as views of
   * `chunk` (or of a small buffer of the parser's own), other messages decoded, and a framing or decoding
   * error as a {@link FrameError}, after which the parser takes nothing more.
   */
  push(chunk: Uint8Array, out: WriteFilePiece[]): void {
    if (this.#failed) return;
    try {
      this.#parse(chunk, out);
    } catch (error) {
      this.#failed = true;
      out.push(new FrameError(error));
    }
  }

  /** Appends a {@link FrameError} to `out` unless the stream ended between messages (or failed already). */
  end(out: WriteFilePiece[]): void {
    if (this.#failed) return;
    if (this.#state !== 'prefix' || this.#filled !== 0) {
      this.#failed = true;
      out.push(new FrameError(new ConnectError('protocol error: incomplete envelope', Code.InvalidArgument)));
    }
  }

  #parse(chunk: Uint8Array, out: WriteFilePiece[]): void {
    let at = 0;
    while (at < chunk.byteLength) {
      switch (this.#state) {
        case 'prefix': {
          const take = Math.min(PREFIX_BYTES - this.#filled, chunk.byteLength - at);
          this.#prefix.set(chunk.subarray(at, at + take), this.#filled);
          this.#filled += take;
          at += take;
          if (this.#filled === PREFIX_BYTES) this.#startMessage(out);
          break;
        }
        case 'lead':
        case 'gather': {
          const take = Math.min(this.#buffer.byteLength - this.#filled, chunk.byteLength - at);
          this.#buffer.set(chunk.subarray(at, at + take), this.#filled);
          this.#filled += take;
          this.#remaining -= take;
          at += take;
          if (this.#filled < this.#buffer.byteLength) break;
          if (this.#state === 'lead') this.#decideFromLead(out);
          else this.#emitGathered(out);
          break;
        }
        case 'stream': {
          const take = Math.min(this.#remaining, chunk.byteLength - at);
          out.push(chunk.subarray(at, at + take));
          this.#remaining -= take;
          at += take;
          if (this.#remaining === 0) this.#state = 'prefix';
          break;
        }
      }
    }
  }

  #startMessage(out: WriteFilePiece[]): void {
    const view = new DataView(this.#prefix.buffer);
    const flags = view.getUint8(0);
    const length = view.getUint32(1);
    this.#filled = 0;
    if ((flags & COMPRESSED_FLAG) === COMPRESSED_FLAG) throw new ConnectError('received compressed envelope, but do not know how to decompress', Code.Internal);
    if (length > this.#readMaxBytes) throw new ConnectError(`message size ${length} is larger than configured readMaxBytes ${this.#readMaxBytes}`, Code.ResourceExhausted);
    if (length === 0) {
      out.push(decode(new Uint8Array(0)));
      return;
    }
    this.#remaining = length;
    this.#buffer = new Uint8Array(Math.min(length, LEAD_BYTES));
    this.#state = 'lead';
  }

  /** The lead is in: a data message with one field streams its payload; anything else is gathered. */
  #decideFromLead(out: WriteFilePiece[]): void {
    const lead = this.#buffer;
    const length = lead.byteLength + this.#remaining;
    const payload = lead[0] === DATA_TAG ? readVarint(lead, 1) : undefined;
    if (payload !== undefined && 1 + payload.bytes + payload.value === length) {
      // Pushed even when empty: the message is there (a data message where the header belongs, say).
      out.push(lead.subarray(1 + payload.bytes));
      this.#filled = 0;
      this.#state = this.#remaining > 0 ? 'stream' : 'prefix';
      return;
    }
    const whole = new Uint8Array(length);
    whole.set(lead);
    this.#buffer = whole;
    this.#state = 'gather';
    if (this.#remaining === 0) this.#emitGathered(out);
  }

  #emitGathered(out: WriteFilePiece[]): void {
    out.push(decode(this.#buffer));
    this.#buffer = new Uint8Array(0);
    this.#filled = 0;
    this.#state = 'prefix';
  }
}

/** A whole message, decoded; a decoding failure is connect-node's `parse binary` error. */
function decode(bytes: Uint8Array): WriteFileRequest {
  try {
    return fromBinary(WriteFileRequestSchema, bytes);
  } catch (error) {
    throw new ConnectError(`parse binary: ${error instanceof Error ? error.message : String(error)}`, Code.Internal);
  }
}

/**
 * The varint at `bytes[at]`: its value and how many bytes it took; undefined when it does not end
 * within `bytes` or exceeds 2^53 - 1 (such a message is gathered, and protobuf-es judges it).
 */
export function readVarint(bytes: Uint8Array, at: number): { value: number; bytes: number } | undefined {
  let value = 0;
  let scale = 1;
  for (let i = at; i < bytes.byteLength && i < at + 10; i++) {
    const byte = bytes[i] as number;
    value += (byte & 0x7f) * scale;
    if (value > Number.MAX_SAFE_INTEGER) return undefined;
    if ((byte & 0x80) === 0) return { value, bytes: i - at + 1 };
    scale *= 128;
  }
  return undefined;
}
