/**
 * A deliberately simple BLAKE3 (default hash, 32-byte output) written from the specification
 * (https://github.com/BLAKE3-team/BLAKE3-specs, "The BLAKE3 hashing function", sections 2.1-2.6), used only
 * to cross-check the native addon: it shares no code with it, and it recursively splits the tree instead
 * of using the incremental chaining-value stack, so a bug would have to be made twice, differently.
 */

const IV = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19] as const;
const MESSAGE_PERMUTATION = [2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8] as const;
const CHUNK_START = 1;
const CHUNK_END = 2;
const PARENT = 4;
const ROOT = 8;
const BLOCK_LEN = 64;
const CHUNK_LEN = 1024;

/** A compression whose flags are not final yet, so the root can add ROOT. */
interface Output {
  readonly cv: readonly number[];
  readonly block: readonly number[];
  readonly counter: number;
  readonly blockLen: number;
  readonly flags: number;
}

function word(words: readonly number[], i: number): number {
  const value = words[i];
  if (value === undefined) throw new RangeError(`word ${i} out of range`);
  return value;
}

function rotr(x: number, n: number): number {
  return ((x >>> n) | (x << (32 - n))) >>> 0;
}

function g(s: number[], a: number, b: number, c: number, d: number, x: number, y: number): void {
  s[a] = (word(s, a) + word(s, b) + x) >>> 0;
  s[d] = rotr(word(s, d) ^ word(s, a), 16);
  s[c] = (word(s, c) + word(s, d)) >>> 0;
  s[b] = rotr(word(s, b) ^ word(s, c), 12);
  s[a] = (word(s, a) + word(s, b) + y) >>> 0;
  s[d] = rotr(word(s, d) ^ word(s, a), 8);
  s[c] = (word(s, c) + word(s, d)) >>> 0;
  s[b] = rotr(word(s, b) ^ word(s, c), 7);
}

function compress(cv: readonly number[], block: readonly number[], counter: number, blockLen: number, flags: number): number[] {
  const s = [...cv, ...IV.slice(0, 4), counter >>> 0, Math.floor(counter / 2 ** 32) >>> 0, blockLen, flags];
  let m = [...block];
  for (let round = 0; round < 7; round++) {
    const w = (i: number): number => word(m, i);
    g(s, 0, 4, 8, 12, w(0), w(1));
    g(s, 1, 5, 9, 13, w(2), w(3));
    g(s, 2, 6, 10, 14, w(4), w(5));
    g(s, 3, 7, 11, 15, w(6), w(7));
    g(s, 0, 5, 10, 15, w(8), w(9));
    g(s, 1, 6, 11, 12, w(10), w(11));
    g(s, 2, 7, 8, 13, w(12), w(13));
    g(s, 3, 4, 9, 14, w(14), w(15));
    m = MESSAGE_PERMUTATION.map((i) => word(m, i));
  }
  for (let i = 0; i < 8; i++) {
    s[i] = (word(s, i) ^ word(s, i + 8)) >>> 0;
    s[i + 8] = (word(s, i + 8) ^ word(cv, i)) >>> 0;
  }
  return s;
}

/** 64 bytes (zero-padded) as 16 little-endian words. */
function blockWords(bytes: Uint8Array): number[] {
  const padded = new Uint8Array(BLOCK_LEN);
  padded.set(bytes);
  const view = new DataView(padded.buffer);
  return Array.from({ length: 16 }, (_, i) => view.getUint32(i * 4, true));
}

function chunkOutput(chunk: Uint8Array, chunkCounter: number): Output {
  const blocks = Math.max(1, Math.ceil(chunk.byteLength / BLOCK_LEN));
  let cv: readonly number[] = IV;
  for (let i = 0; ; i++) {
    const bytes = chunk.subarray(i * BLOCK_LEN, (i + 1) * BLOCK_LEN);
    const flags = (i === 0 ? CHUNK_START : 0) | (i === blocks - 1 ? CHUNK_END : 0);
    if (i === blocks - 1) return { cv, block: blockWords(bytes), counter: chunkCounter, blockLen: bytes.byteLength, flags };
    cv = compress(cv, blockWords(bytes), chunkCounter, BLOCK_LEN, flags).slice(0, 8);
  }
}

function chainingValue(output: Output): number[] {
  return compress(output.cv, output.block, output.counter, output.blockLen, output.flags).slice(0, 8);
}

/** The tree over `input`, whose first chunk has index `chunkOffset`: the left subtree takes the largest power of two of chunks that leaves at least one byte. */
function subtree(input: Uint8Array, chunkOffset: number): Output {
  if (input.byteLength <= CHUNK_LEN) return chunkOutput(input, chunkOffset);
  const chunks = Math.ceil(input.byteLength / CHUNK_LEN);
  let leftChunks = 1;
  while (leftChunks * 2 < chunks) leftChunks *= 2;
  const left = chainingValue(subtree(input.subarray(0, leftChunks * CHUNK_LEN), chunkOffset));
  const right = chainingValue(subtree(input.subarray(leftChunks * CHUNK_LEN), chunkOffset + leftChunks));
  return { cv: IV, block: [...left, ...right], counter: 0, blockLen: BLOCK_LEN, flags: PARENT };
}

/** BLAKE3 of `input`, 32 bytes, as lower-case hex. */
export function referenceBlake3Hex(input: Uint8Array): string {
  const root = subtree(input, 0);
  // Root output block 0: the counter is the output block index, not the chunk index.
  const words = compress(root.cv, root.block, 0, root.blockLen, root.flags | ROOT).slice(0, 8);
  const out = new DataView(new ArrayBuffer(32));
  words.forEach((value, i) => out.setUint32(i * 4, value, true));
  return Buffer.from(out.buffer).toString('hex');
}
