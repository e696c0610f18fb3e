import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { expect, it } from 'vitest';
import { coalesceChunks } from '../../cli/client/coalesce-chunks.ts';

/** Runs `chunks` through coalesceChunks(bytes); returns what came out, chunk by chunk. */
async function through(chunks: readonly Buffer[], bytes: number): Promise<Buffer[]> {
  const out: Buffer[] = [];
  await pipeline(
    Readable.from(chunks, { objectMode: false }),
    coalesceChunks(bytes),
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        out.push(Buffer.from(chunk));
        done();
      },
    }),
  );
  return out;
}

it('passes the bytes on unchanged, in chunks of at least the size asked (the last one shorter)', async () => {
  const input = Array.from({ length: 300 }, (_, i) => randomBytes(1 + ((i * 997) % 5000)));
  const out = await through(input, 64 * 1024);
  expect(Buffer.concat(out).equals(Buffer.concat(input))).toBe(true);
  expect(out.length).toBeGreaterThan(1);
  expect(out.length).toBeLessThan(input.length / 10);
  for (const chunk of out.slice(0, -1)) expect(chunk.byteLength).toBeGreaterThanOrEqual(64 * 1024);
});

it('takes chunks longer than the size asked whole, after what was gathered before them', async () => {
  const input = [randomBytes(100), randomBytes(100 * 1024), randomBytes(10), randomBytes(70 * 1024), randomBytes(5)];
  const out = await through(input, 64 * 1024);
  expect(Buffer.concat(out).equals(Buffer.concat(input))).toBe(true);
  expect(out.map((chunk) => chunk.byteLength)).toEqual([100 + 100 * 1024, 10 + 70 * 1024, 5]);
});

it('copies: a source reusing its buffer after each chunk does not change what was passed on', async () => {
  const reused = Buffer.alloc(1000);
  const expected: Buffer[] = [];
  function* source(): Generator<Buffer> {
    for (let i = 0; i < 50; i++) {
      reused.fill(i);
      expected.push(Buffer.from(reused));
      yield reused;
    }
  }
  const out: Buffer[] = [];
  await pipeline(source(), coalesceChunks(4096), new Writable({ write: (chunk: Buffer, _e, done) => (out.push(chunk), done()) }));
  expect(Buffer.concat(out).equals(Buffer.concat(expected))).toBe(true);
});

it('passes an empty stream on as empty, and refuses a size that is not a positive integer', async () => {
  expect(await through([], 1024)).toEqual([]);
  expect(() => coalesceChunks(0)).toThrow(RangeError);
  expect(() => coalesceChunks(1.5)).toThrow(RangeError);
});
