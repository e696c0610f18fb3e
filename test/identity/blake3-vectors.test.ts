/**
 * BLAKE3 known-answer tests.
 *
 * `VECTORS` are the official test vectors (BLAKE3-team/BLAKE3, `test_vectors/test_vectors.json`): input
 * bytes `i % 251` of the official lengths; the expected value is the first 32 bytes of each case's `hash`
 * field (the default-length output). All 22 were compared against that file when committed. They also
 * check `blake3-reference.ts`, an independent implementation from the specification, which in turn is
 * checked against the widely published values in `PUBLISHED`.
 */
import { createHash as createSha256 } from 'node:crypto';
import { hash as blake3, createHash as createBlake3 } from 'blake3';
import { describe, expect, it, vi } from 'vitest';
import { blake3Hex, blake3OneShot, WASM_MAX_BYTES } from '../../core/identity/blake3-oneshot.ts';
import { digestInline } from '../../core/identity/dual-hasher.ts';
import { digestStream } from '../../core/identity/digest-stream.ts';
import { referenceBlake3Hex } from './blake3-reference.ts';

const PUBLISHED: readonly (readonly [label: string, input: Uint8Array, hex: string])[] = [
  ['empty', new Uint8Array(0), 'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262'],
  ['"abc"', new TextEncoder().encode('abc'), '6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85'],
  ['one 0x00 byte', Uint8Array.of(0), '2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213'],
];

const VECTORS: readonly (readonly [length: number, hex: string])[] = [
  [0, 'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262'],
  [1, '2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213'],
  [1023, '10108970eeda3eb932baac1428c7a2163b0e924c9a9e25b35bba72b28f70bd11'],
  [1024, '42214739f095a406f3fc83deb889744ac00df831c10daa55189b5d121c855af7'],
  [1025, 'd00278ae47eb27b34faecf67b4fe263f82d5412916c1ffd97c8cb7fb814b8444'],
  [2048, 'e776b6028c7cd22a4d0ba182a8bf62205d2ef576467e838ed6f2529b85fba24a'],
  [2049, '5f4d72f40d7a5f82b15ca2b2e44b1de3c2ef86c426c95c1af0b6879522563030'],
  [3072, 'b98cb0ff3623be03326b373de6b9095218513e64f1ee2edd2525c7ad1e5cffd2'],
  [3073, '7124b49501012f81cc7f11ca069ec9226cecb8a2c850cfe644e327d22d3e1cd3'],
  [4096, '015094013f57a5277b59d8475c0501042c0b642e531b0a1c8f58d2163229e969'],
  [4097, '9b4052b38f1c5fc8b1f9ff7ac7b27cd242487b3d890d15c96a1c25b8aa0fb995'],
  [5120, '9cadc15fed8b5d854562b26a9536d9707cadeda9b143978f319ab34230535833'],
  [5121, '628bd2cb2004694adaab7bbd778a25df25c47b9d4155a55f8fbd79f2fe154cff'],
  [6144, '3e2e5b74e048f3add6d21faab3f83aa44d3b2278afb83b80b3c35164ebeca205'],
  [6145, 'f1323a8631446cc50536a9f705ee5cb619424d46887f3c376c695b70e0f0507f'],
  [7168, '61da957ec2499a95d6b8023e2b0e604ec7f6b50e80a9678b89d2628e99ada77a'],
  [7169, 'a003fc7a51754a9b3c7fae0367ab3d782dccf28855a03d435f8cfe74605e7817'],
  [8192, 'aae792484c8efe4f19e2ca7d371d8c467ffb10748d8a5a1ae579948f718a2a63'],
  [8193, 'bab6c09cb8ce8cf459261398d2e7aef35700bf488116ceb94a36d0f5f1b7bc3b'],
  [16384, 'f875d6646de28985646f34ee13be9a576fd515f76b5b0a26bb324735041ddde4'],
  [31744, '62b6960e1a44bcc1eb1a611a8d6235b6b4b78f32e7abc4fb4c6cdcce94895c47'],
  [102400, 'bc3e3d41a1146b069abffad3c0d44860cf664390afce4d9661f7902e7943e085'],
];

/** The official vectors' input: byte i is `i % 251`. */
function vectorInput(length: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => i % 251);
}

async function* oneChunkAtATime(bytes: Uint8Array, chunk: number): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < bytes.byteLength; offset += chunk) yield await Promise.resolve(bytes.subarray(offset, offset + chunk));
}

describe('published BLAKE3 values', () => {
  it.each(PUBLISHED)('%s: native addon and the reference agree with the published hash', (_label, input, hex) => {
    expect(blake3(input).toString('hex')).toBe(hex);
    expect(referenceBlake3Hex(input)).toBe(hex);
  });
});

describe('BLAKE3 vectors (official inputs)', () => {
  it.each(VECTORS)('length %i: reference implementation', (length, hex) => {
    expect(referenceBlake3Hex(vectorInput(length))).toBe(hex);
  });

  it.each(VECTORS)('length %i: native one-shot and incremental (1-byte and 1000-byte updates)', (length, hex) => {
    const input = vectorInput(length);
    expect(blake3(input).toString('hex')).toBe(hex);
    for (const step of [1, 1000]) {
      const hasher = createBlake3();
      for (let offset = 0; offset < length; offset += step) hasher.update(input.subarray(offset, offset + step));
      expect(hasher.digest().toString('hex')).toBe(hex);
    }
  });

  it.each(VECTORS)('length %i: the one-shot helper (WebAssembly build up to WASM_MAX_BYTES, native above) and digestInline', (length, hex) => {
    const input = vectorInput(length);
    expect(blake3OneShot(input).toString('hex')).toBe(hex);
    expect(blake3Hex(input)).toBe(hex);
    expect(digestInline(input).blake3.hex).toBe(hex);
    expect(digestInline(input).sha256.hex).toBe(createSha256('sha256').update(input).digest('hex'));
  });

  it('the vectors reach both builds of the one-shot helper, at and past its threshold', () => {
    const lengths = VECTORS.map(([length]) => length);
    expect(lengths.some((length) => length > 0 && length <= WASM_MAX_BYTES)).toBe(true);
    expect(lengths.some((length) => length > WASM_MAX_BYTES)).toBe(true);
    expect(lengths).toContain(WASM_MAX_BYTES);
  });

  it('the one-shot helper agrees with the native addon on every length around the threshold, and on shared memory', () => {
    const input = Buffer.from(Uint8Array.from({ length: WASM_MAX_BYTES + 1025 }, (_, i) => (i * 7919) % 256));
    for (let length = WASM_MAX_BYTES - 1025; length <= input.byteLength; length += 1) {
      expect(blake3OneShot(input.subarray(0, length)).equals(blake3(input.subarray(0, length)))).toBe(true);
    }
    const shared = new Uint8Array(new SharedArrayBuffer(4096));
    shared.set(input.subarray(0, 4096));
    expect(blake3OneShot(shared).equals(blake3(input.subarray(0, 4096)))).toBe(true);
  });

  it('a digest is a Buffer of its own: a later call of the same length does not change it', () => {
    for (const length of [64, 4096, WASM_MAX_BYTES]) {
      const first = blake3OneShot(vectorInput(length));
      const copy = Buffer.from(first);
      blake3OneShot(new Uint8Array(length).fill(7));
      expect(first.equals(copy)).toBe(true);
    }
  });

  it('loading the WebAssembly build leaves no crash listener of its glue on the process, and happens once', async () => {
    const fromGlue = (listener: (...args: never[]) => unknown): boolean => /ExitStatus|throw reason/.test(String(listener));
    expect(process.listeners('uncaughtException').filter(fromGlue)).toEqual([]);
    expect(process.listeners('unhandledRejection').filter(fromGlue)).toEqual([]);
    const loaded = (globalThis as Record<symbol, unknown>)[Symbol.for('artifact-store.blake3-wasm.loaded')];
    expect(loaded).toBeInstanceOf(Promise);
    vi.resetModules();
    const again = await import('../../core/identity/blake3-oneshot.ts');
    expect((globalThis as Record<symbol, unknown>)[Symbol.for('artifact-store.blake3-wasm.loaded')]).toBe(loaded);
    expect(again.blake3Hex(vectorInput(1024))).toBe(VECTORS.find(([length]) => length === 1024)?.[1]);
  });

  it.each(VECTORS)('length %i: digestStream through the workers', async (length, hex) => {
    const input = vectorInput(length);
    // inlineBytes 0 and tiny batches so every vector crosses slab boundaries inside the workers.
    const digest = await digestStream(oneChunkAtATime(input, 333), { hasher: { inlineBytes: 0, batchBytes: 1000, windowBytes: 4000 } });
    expect(digest.blake3.hex).toBe(hex);
    expect(digest.sha256.hex).toBe(createSha256('sha256').update(input).digest('hex'));
    expect(digest.size).toBe(length);
  });
});
