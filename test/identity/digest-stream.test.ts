import { createHash as createSha256, randomFillSync } from 'node:crypto';
import { hash as blake3, createHash as createBlake3 } from 'blake3';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { DualDigest } from '../../core/identity/digest.ts';
import { digestStream } from '../../core/identity/digest-stream.ts';
import { HashError } from '../../core/identity/hash-error.ts';
import { createHashPool, type HashPool } from '../../core/identity/hash-pool.ts';

const MiB = 1024 * 1024;

/** Pool layouts under test; a `Record` so a new layout must be added to every table here. */
type Layout = 'one-worker' | 'two-workers';
const POOLS: Record<Layout, HashPool> = {
  'one-worker': createHashPool({ size: 1 }),
  'two-workers': createHashPool({ size: 2 }),
};
const LAYOUTS = Object.keys(POOLS) as Layout[];
afterAll(async () => {
  await Promise.all(Object.values(POOLS).map((pool) => pool.close()));
});

/** Deterministic bytes from a seed (xorshift32), so a failing property replays with the same data. */
function seededBytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed | 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

function expectDigest(digest: DualDigest, bytes: Uint8Array): void {
  expect(digest.size).toBe(bytes.byteLength);
  expect(digest.sha256.hex).toBe(createSha256('sha256').update(bytes).digest('hex'));
  expect(digest.blake3.hex).toBe(blake3(bytes).toString('hex'));
}

/** `bytes` cut into chunks whose sizes cycle through `sizes` (a 0 yields an empty chunk). */
async function* cut(bytes: Uint8Array, sizes: readonly number[]): AsyncGenerator<Uint8Array> {
  let offset = 0;
  for (let i = 0; offset < bytes.byteLength || i === 0; i++) {
    const size = sizes[i % sizes.length] ?? 1;
    yield await Promise.resolve(bytes.subarray(offset, offset + size));
    offset += size;
  }
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe.each(LAYOUTS)('digestStream on a pool with %s', (layout) => {
  const pool = POOLS[layout];

  it('equals node:crypto SHA-256 and one-shot BLAKE3 for random bytes in random chunks', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          length: fc.integer({ min: 0, max: 200_000 }),
          seed: fc.integer(),
          // A trailing 1 guarantees progress even when every generated size is 0.
          sizes: fc.array(fc.integer({ min: 0, max: 70_000 }), { minLength: 1, maxLength: 12 }).map((sizes) => [...sizes, 1]),
          batchBytes: fc.constantFrom(64, 4096, 65_536, MiB),
          windowSlabs: fc.integer({ min: 1, max: 4 }),
          inlineBytes: fc.constantFrom(0, 1000, 65_536),
          sharedInput: fc.boolean(),
        }),
        async ({ length, seed, sizes, batchBytes, windowSlabs, inlineBytes, sharedInput }) => {
          let bytes = seededBytes(length, seed);
          if (sharedInput) {
            const shared = new Uint8Array(new SharedArrayBuffer(length));
            shared.set(bytes);
            bytes = shared;
          }
          const digest = await digestStream(cut(bytes, sizes), { pool, hasher: { batchBytes, windowBytes: batchBytes * windowSlabs, inlineBytes } });
          expectDigest(digest, Uint8Array.from(bytes));
        },
      ),
      { numRuns: 40 },
    );
  });

  it('hashes a 0-byte stream, with and without chunks, inline and in the workers', async () => {
    for (const inlineBytes of [0, 65_536]) {
      const empty = new Uint8Array(0);
      expectDigest(await digestStream(cut(empty, [0]), { pool, hasher: { inlineBytes } }), empty);
      expectDigest(await digestStream((async function* () {})(), { pool, hasher: { inlineBytes } }), empty);
    }
    expect(pool.activeSessions).toBe(0);
  });

  it('hashes 64 MiB in odd-sized chunks', async () => {
    const bytes = randomFillSync(new Uint8Array(64 * MiB));
    const digest = await digestStream(cut(bytes, [1, 4093, 65_537, 999_983, 3_333_331, 7, 5 * MiB + 3]), { pool });
    expectDigest(digest, bytes);
  });

  it('lets the source reuse its buffer once the next chunk is requested', async () => {
    const buffer = new Uint8Array(9 * MiB + 3); // larger than the window: update has to wait for space
    const copies: Uint8Array[] = [];
    async function* reusing(): AsyncGenerator<Uint8Array> {
      for (let round = 0; round < 4; round++) {
        buffer.set(seededBytes(buffer.byteLength, round + 1));
        copies.push(buffer.slice());
        yield await Promise.resolve(buffer);
      }
      buffer.fill(0); // after the last update resolved
    }
    const digest = await digestStream(reusing(), { pool });
    expectDigest(digest, new Uint8Array(Buffer.concat(copies)));
  });

  it('gives concurrent streams independent, correct results', async () => {
    const inputs = [0, 1000, 5 * MiB + 1, 12 * MiB + 7, 3 * MiB].map((length, i) => seededBytes(length, 100 + i));
    const digests = await Promise.all(inputs.map((bytes, i) => digestStream(cut(bytes, [MiB - 3 * i, 17]), { pool, hasher: { inlineBytes: i % 2 === 0 ? 0 : 65_536 } })));
    digests.forEach((digest, i) => expectDigest(digest, inputs[i] as Uint8Array));
    expect(pool.activeSessions).toBe(0);
  });

  it('keeps the event loop responsive while a large stream hashes', async () => {
    const chunk = randomFillSync(new Uint8Array(MiB));
    let ticks = 0;
    const timer = setInterval(() => (ticks += 1), 1);
    try {
      const expected = createBlake3();
      async function* source(): AsyncGenerator<Uint8Array> {
        for (let i = 0; i < 256; i++) {
          expected.update(chunk);
          yield await Promise.resolve(chunk);
        }
      }
      const digest = await digestStream(source(), { pool });
      expect(digest.blake3.hex).toBe(expected.digest().toString('hex'));
    } finally {
      clearInterval(timer);
    }
    // Not a timing threshold: it only has to tick at all while 256 MiB are hashed.
    expect(ticks).toBeGreaterThanOrEqual(3);
  });
});

describe('digestStream abort and errors', () => {
  const pool = POOLS['two-workers'];

  it('rejects at once for an already aborted signal, without reading the source', async () => {
    let started = false;
    async function* source(): AsyncGenerator<Uint8Array> {
      started = true;
      yield await Promise.resolve(new Uint8Array(1));
    }
    const error = (await rejection(digestStream(source(), { pool, signal: AbortSignal.abort('early') }))) as HashError;
    expect(error).toBeInstanceOf(HashError);
    expect(error.code).toBe('aborted');
    expect(error.cause).toBe('early');
    expect(started).toBe(false);
  });

  it('stops mid-stream: rejects with aborted, closes the source and frees the sessions', async () => {
    const controller = new AbortController();
    const chunk = new Uint8Array(MiB).fill(3);
    let closed = false;
    async function* endless(): AsyncGenerator<Uint8Array> {
      try {
        for (let i = 0; ; i++) {
          if (i === 40) controller.abort(new Error('enough'));
          yield await Promise.resolve(chunk);
        }
      } finally {
        closed = true;
      }
    }
    const error = (await rejection(digestStream(endless(), { pool, signal: controller.signal }))) as HashError;
    expect(error.code).toBe('aborted');
    expect(error.cause).toEqual(new Error('enough'));
    await new Promise((resolve) => setImmediate(resolve));
    expect(closed).toBe(true);
    expect(pool.activeSessions).toBe(0);
  });

  it('rejects even when the source never yields again', async () => {
    const controller = new AbortController();
    let returned = false;
    let calls = 0;
    const stuck: AsyncIterable<Uint8Array> = {
      [Symbol.asyncIterator]: () => ({
        next: () => (calls++ === 0 ? Promise.resolve({ done: false, value: new Uint8Array(200_000) }) : new Promise<IteratorResult<Uint8Array>>(() => undefined)),
        return: () => {
          returned = true;
          return Promise.resolve({ done: true, value: undefined });
        },
      }),
    };
    setTimeout(() => controller.abort(), 20);
    const error = (await rejection(digestStream(stuck, { pool, signal: controller.signal }))) as HashError;
    expect(error.code).toBe('aborted');
    expect(returned).toBe(true);
    expect(pool.activeSessions).toBe(0);
  });

  it('rethrows a source error as it is and frees the sessions', async () => {
    const boom = new Error('disk on fire');
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield await Promise.resolve(new Uint8Array(3 * MiB));
      throw boom;
    }
    expect(await rejection(digestStream(failing(), { pool }))).toBe(boom);
    expect(pool.activeSessions).toBe(0);
  });

  it('uses a shared default pool when none is given', async () => {
    const bytes = seededBytes(5 * MiB, 7);
    expectDigest(await digestStream(cut(bytes, [MiB])), bytes);
  });
});
