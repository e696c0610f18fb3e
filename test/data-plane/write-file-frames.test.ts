// The gRPC fast path's WriteFile frame parser (ADR 0019) against protobuf-es decoding each whole
// message, over every way the bytes can be split into chunks.
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WriteFileRequestSchema, type WriteFileRequest } from '../../gen/artifactstore/v1/data_plane_service_pb.ts';
import { FrameError, readVarint, WriteFileFrameParser, type WriteFilePiece } from '../../data-plane/grpc/write-file-frames.ts';

const MAX = 16 * 1024 * 1024;

function envelope(message: Uint8Array, flags = 0): Uint8Array {
  const out = new Uint8Array(5 + message.byteLength);
  new DataView(out.buffer).setUint8(0, flags);
  new DataView(out.buffer).setUint32(1, message.byteLength);
  out.set(message, 5);
  return out;
}

function varint(value: number, padTo = 0): number[] {
  const bytes: number[] = [];
  do {
    bytes.push(value % 128);
    value = Math.floor(value / 128);
  } while (value > 0);
  while (bytes.length < padTo) bytes.push(0); // a non-minimal varint: valid, and parsed the same
  return bytes.map((b, i) => (i < bytes.length - 1 ? b | 0x80 : b));
}

const header = (path: string): Uint8Array => toBinary(WriteFileRequestSchema, create(WriteFileRequestSchema, { kind: { case: 'header', value: { packageId: 'pkg_1', relativePath: path } } }));
const data = (payload: Uint8Array): Uint8Array => toBinary(WriteFileRequestSchema, create(WriteFileRequestSchema, { kind: { case: 'data', value: payload } }));
/** A data message with a padded length varint. */
const paddedData = (payload: Uint8Array, padTo: number): Uint8Array => Uint8Array.from([0x12, ...varint(payload.byteLength, padTo), ...payload]);
/** Two data fields in one message: the last one wins. */
const twoFields = (a: Uint8Array, b: Uint8Array): Uint8Array => Uint8Array.from([...data(a), ...data(b)]);
/** A data message followed by an unknown field (number 9, varint). */
const withUnknown = (payload: Uint8Array): Uint8Array => Uint8Array.from([...data(payload), 0x48, 0x01]);

/**
 * What the stream means, in order: each header or empty message, and the data between them (the
 * payloads of consecutive data messages concatenated: one entry, even for empty payloads). A data
 * message yields a piece as it begins, so one where the header belongs is seen there.
 */
type Meaning = (string | { readonly data: string })[];

function meaningOf(pieces: readonly WriteFilePiece[]): Meaning {
  const meaning: Meaning = [];
  const addData = (bytes: Uint8Array): void => {
    const last = meaning.at(-1);
    const hex = Buffer.from(bytes).toString('hex');
    if (typeof last === 'object') meaning[meaning.length - 1] = { data: last.data + hex };
    else meaning.push({ data: hex });
  };
  for (const piece of pieces) {
    if (piece instanceof FrameError) throw piece.error;
    if (piece instanceof Uint8Array) addData(piece);
    else if (piece.kind.case === 'data') addData(piece.kind.value);
    else meaning.push(describe1(piece));
  }
  return meaning;
}

function describe1(message: WriteFileRequest): string {
  return message.kind.case === 'header' ? `header:${message.kind.value.relativePath}` : 'empty';
}

function expectedMeaning(messages: readonly Uint8Array[]): Meaning {
  return meaningOf(messages.map((m) => fromBinary(WriteFileRequestSchema, m)));
}

function parse(stream: Uint8Array, cuts: readonly number[], readMaxBytes = MAX): WriteFilePiece[] {
  const parser = new WriteFileFrameParser(readMaxBytes);
  const out: WriteFilePiece[] = [];
  let from = 0;
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    parser.push(stream.subarray(from, cut), out);
    from = cut;
  }
  parser.push(stream.subarray(from), out);
  parser.end(out);
  return out;
}

/** The error a stream ends with: the last piece, a FrameError holding a ConnectError. */
function connectErrorOf(pieces: readonly WriteFilePiece[]): ConnectError {
  const last = pieces.at(-1);
  if (last instanceof FrameError && last.error instanceof ConnectError) return last.error;
  throw new Error(`expected a FrameError last, got ${last instanceof Uint8Array ? 'bytes' : last === undefined ? 'nothing' : 'a message'}`);
}

const bytes = (n: number, seed: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

describe('WriteFileFrameParser', () => {
  const messages = [data(new Uint8Array(0)), header('a/b.bin'), data(bytes(300, 1)), new Uint8Array(0), data(bytes(1, 2)), paddedData(bytes(130, 3), 4), twoFields(bytes(5, 4), bytes(7, 5)), withUnknown(bytes(9, 6)), data(new Uint8Array(0)), header('again'), data(bytes(200, 7))];
  const stream = Buffer.concat(messages.map((m) => envelope(m)));

  it('means what protobuf-es decodes, whatever the chunks: split at every single point and at every pair of points', () => {
    const expected = expectedMeaning(messages);
    expect(expected.filter((m) => typeof m === 'string')).toEqual(['header:a/b.bin', 'empty', 'header:again']);
    expect(expected[0]).toEqual({ data: '' }); // the empty data message before the header is there
    expect(meaningOf(parse(stream, []))).toEqual(expected);
    for (let cut = 0; cut <= stream.byteLength; cut++) expect(meaningOf(parse(stream, [cut]))).toEqual(expected);
    for (let a = 0; a <= 24; a++) for (let b = a; b <= stream.byteLength; b += 17) expect(meaningOf(parse(stream, [a, b]))).toEqual(expected);
  });

  it('means what protobuf-es decodes for random messages in random chunks (property)', () => {
    const payload = fc.uint8Array({ maxLength: 600 });
    const message = fc.oneof(
      payload.map((p) => data(p)),
      fc.tuple(payload, fc.integer({ min: 0, max: 10 })).map(([p, pad]) => paddedData(p, pad)),
      fc.tuple(payload, payload).map(([a, b]) => twoFields(a, b)),
      payload.map((p) => withUnknown(p)),
      fc.string({ maxLength: 40 }).map((s) => header(s)),
      fc.constant(new Uint8Array(0)),
    );
    fc.assert(
      fc.property(fc.array(message, { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 20 }), (list, rawCuts) => {
        const whole = Buffer.concat(list.map((m) => envelope(m)));
        const cuts = rawCuts.map((c) => (whole.byteLength === 0 ? 0 : c % (whole.byteLength + 1)));
        expect(meaningOf(parse(whole, cuts))).toEqual(expectedMeaning(list));
      }),
      { numRuns: 500 },
    );
  });

  it('streams a one-field data message as views of the chunks it came in, without gathering it', () => {
    const payload = bytes(100_000, 9);
    const wire = envelope(data(payload));
    const chunk = wire.subarray(0, 50_000);
    const out: WriteFilePiece[] = [];
    new WriteFileFrameParser(MAX).push(chunk, out);
    const last = out.at(-1) as Uint8Array;
    expect(last.buffer).toBe(chunk.buffer); // a view, not a copy
    expect(Buffer.compare(Buffer.concat(out as Uint8Array[]), payload.subarray(0, 50_000 - 5 - 1 - varint(100_000).length))).toBe(0);
  });

  it('refuses what connect-node refuses, with its codes, in the place of the message at fault', () => {
    const tooLarge = connectErrorOf(parse(envelope(data(bytes(100, 1))), [], 99));
    expect([tooLarge.code, tooLarge.rawMessage]).toEqual([Code.ResourceExhausted, 'message size 102 is larger than configured readMaxBytes 99']);
    const compressed = connectErrorOf(parse(envelope(data(bytes(10, 1)), 1), []));
    expect(compressed.code).toBe(Code.Internal);
    for (const cut of [1, 4, 5, 6, 9]) {
      const wire = envelope(data(bytes(10, 1)));
      const truncated = connectErrorOf(parse(wire.subarray(0, cut), []));
      expect([truncated.code, truncated.rawMessage]).toEqual([Code.InvalidArgument, 'protocol error: incomplete envelope']);
    }
    // Field 2 as a varint (wire type 0) is not the bytes field: gathered, and protobuf-es refuses it.
    const garbage = connectErrorOf(parse(envelope(Uint8Array.from([0x10, 0x05, 0x07])), []));
    expect(garbage.code).toBe(Code.Internal);
    expect(garbage.rawMessage).toMatch(/^parse binary: /);
    // A data length running past the message is not streamed: gathered, and refused.
    const overlong = connectErrorOf(parse(envelope(Uint8Array.from([0x12, 0x09, 1, 2, 3])), []));
    expect(overlong.code).toBe(Code.Internal);
    // In one chunk, the header comes out before the error of the malformed message after it, and
    // nothing is parsed after the error.
    const pieces = parse(Buffer.concat([envelope(header('h')), envelope(Uint8Array.from([0x12, 0x09, 1])), envelope(data(bytes(5, 1)))]), []);
    expect(pieces.map((p) => (p instanceof FrameError ? 'error' : p instanceof Uint8Array ? 'bytes' : describe1(p)))).toEqual(['header:h', 'error']);
  });

  it('reads varints up to 2^53 - 1 and no further', () => {
    expect(readVarint(Uint8Array.from([0x96, 0x01]), 0)).toEqual({ value: 150, bytes: 2 });
    expect(readVarint(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f]), 0)).toEqual({ value: Number.MAX_SAFE_INTEGER, bytes: 8 });
    expect(readVarint(Uint8Array.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10]), 0)).toBeUndefined();
    expect(readVarint(Uint8Array.from([0x80, 0x80]), 0)).toBeUndefined();
  });
});
