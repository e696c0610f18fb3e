import { createHash as createSha256 } from 'node:crypto';
import { hash as blake3 } from 'blake3';
import { describe, expect, it } from 'vitest';
import { createDualHasher, type DualHasher } from '../../core/identity/dual-hasher.ts';
import { HashError } from '../../core/identity/hash-error.ts';
import { settledState as state } from '../support/settled-state.ts';
import { createFakeHashPool } from './fake-hash-pool.ts';

function pattern(length: number, seed: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 31 + seed * 7 + (i >> 8)) & 0xff);
}

/** The same bytes on a SharedArrayBuffer: the hasher sends those to the workers in place. */
function sharedPattern(length: number, seed: number): Uint8Array {
  const shared = new Uint8Array(new SharedArrayBuffer(length));
  shared.set(pattern(length, seed));
  return shared;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

async function expectDigestOf(hasher: DualHasher, bytes: Uint8Array): Promise<void> {
  const digest = await hasher.digest();
  expect(digest.size).toBe(bytes.byteLength);
  expect(digest.sha256.hex).toBe(createSha256('sha256').update(bytes).digest('hex'));
  expect(digest.blake3.hex).toBe(blake3(bytes).toString('hex'));
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe('createDualHasher placement', () => {
  it('hashes small streams inline, opening no session', async () => {
    const pool = createFakeHashPool(2);
    const hasher = createDualHasher(pool);
    const bytes = pattern(1000, 1);
    await hasher.update(bytes.subarray(0, 10));
    await hasher.update(bytes.subarray(10));
    await expectDigestOf(hasher, bytes);
    expect(pool.sessions).toHaveLength(0);
  });

  it('with two or more workers, puts SHA-256 and BLAKE3 in separate sessions on different workers', async () => {
    const pool = createFakeHashPool(2);
    pool.hold = false;
    const hasher = createDualHasher(pool, { inlineBytes: 0 });
    const bytes = pattern(5000, 2);
    await hasher.update(bytes);
    await expectDigestOf(hasher, bytes);
    expect(pool.sessions.map((s) => [s.algorithms, s.apartFrom])).toEqual([
      [['sha256'], []],
      [['blake3'], [0]],
    ]);
  });

  it('with one worker, uses one session for both algorithms', async () => {
    const pool = createFakeHashPool(1);
    pool.hold = false;
    const hasher = createDualHasher(pool, { inlineBytes: 0 });
    const bytes = pattern(5000, 3);
    await hasher.update(bytes);
    await expectDigestOf(hasher, bytes);
    expect(pool.sessions.map((s) => s.algorithms)).toEqual([['sha256', 'blake3']]);
  });

  it('with inlining disabled, even an empty stream goes to the workers', async () => {
    const pool = createFakeHashPool(2);
    pool.hold = false;
    const hasher = createDualHasher(pool, { inlineBytes: 0 });
    await expectDigestOf(hasher, new Uint8Array(0));
    expect(pool.sessions).toHaveLength(2);
  });
});

describe('createDualHasher data path', () => {
  it('sends SharedArrayBuffer slabs of batchBytes, never the caller buffer', async () => {
    const pool = createFakeHashPool(2);
    pool.hold = false;
    const hasher = createDualHasher(pool, { inlineBytes: 0, batchBytes: 1000, windowBytes: 4000 });
    const bytes = pattern(3500, 4);
    await hasher.update(bytes);
    await expectDigestOf(hasher, bytes);
    expect(pool.sessions.map((s) => s.written)).toEqual([3500, 3500]);
    for (const session of pool.sessions) {
      const writes = pool.log.filter((write) => write.session === session);
      expect(writes.map((write) => write.bytes.byteLength)).toEqual([1000, 1000, 1000, 500]);
      expect(writes.every((write) => write.shared && write.bytes.buffer !== bytes.buffer)).toBe(true);
    }
  });

  it('bounds buffered bytes by the window; update resolves once space frees', async () => {
    const pool = createFakeHashPool(2);
    const hasher = createDualHasher(pool, { inlineBytes: 0, batchBytes: 1024, windowBytes: 4096 });
    const bytes = pattern(10_000, 5);
    const update = hasher.update(bytes);
    expect(await state(update)).toBe('pending');
    expect(hasher.bufferedBytes).toBeLessThanOrEqual(4096);
    expect(pool.held.length).toBe(2 * 4); // four slabs, each sent to both sessions
    expect(pool.held.every((write) => write.shared && write.bytes.buffer !== bytes.buffer)).toBe(true);
    await pool.releaseAll();
    expect(await state(update)).toBe('fulfilled');
    const digest = hasher.digest();
    await pool.releaseAll();
    await digest;
    await expectDigestOf(hasher, bytes);
    expect(hasher.bufferedBytes).toBe(0);
  });

  it.each([
    ['copied', () => [pattern(3000, 6), pattern(7, 7), pattern(2000, 8), pattern(1, 9)]],
    ['copied and shared', () => [pattern(3000, 17), sharedPattern(900, 18), pattern(2000, 19), sharedPattern(4096, 20)]],
  ])('applies %s updates in call order even when the caller does not await them', async (_, make) => {
    const pool = createFakeHashPool(2);
    const hasher = createDualHasher(pool, { inlineBytes: 0, batchBytes: 512, windowBytes: 1024 });
    const parts = make();
    const updates = parts.map((part) => hasher.update(part));
    const digest = hasher.digest();
    await pool.releaseAll();
    await Promise.all(updates);
    await digest;
    await expectDigestOf(hasher, concat(parts));
  });

  it('lets the caller reuse its buffer as soon as update resolves', async () => {
    const pool = createFakeHashPool(2);
    const hasher = createDualHasher(pool, { inlineBytes: 0, batchBytes: 1000, windowBytes: 8000 });
    const buffer = new Uint8Array(700);
    const seen: Uint8Array[] = [];
    for (let round = 0; round < 5; round++) {
      buffer.set(pattern(700, round));
      seen.push(buffer.slice());
      await hasher.update(buffer); // slabs are still held by the fake: only a copy keeps them right
    }
    buffer.fill(0xff);
    const digest = hasher.digest();
    await pool.releaseAll();
    await digest;
    await expectDigestOf(hasher, concat(seen));
  });

  it('accepts SharedArrayBuffer-backed chunks on the inline path (blake3 only ever sees a private copy)', async () => {
    const shared = new Uint8Array(new SharedArrayBuffer(300));
    shared.set(pattern(300, 10));
    const hasher = createDualHasher(createFakeHashPool(2));
    await hasher.update(shared);
    await expectDigestOf(hasher, Uint8Array.from(shared));
  });
});

describe('createDualHasher in place (SharedArrayBuffer chunks)', () => {
  it('sends a shared chunk to every session as it is, and resolves only when they are done with it', async () => {
    const pool = createFakeHashPool(2);
    const hasher = createDualHasher(pool, { batchBytes: 1000, windowBytes: 2000 });
    const chunk = sharedPattern(5000, 11); // larger than the window: no slab could hold it
    const update = hasher.update(chunk);
    expect(await state(update)).toBe('pending');
    expect(pool.held).toHaveLength(2);
    expect(pool.held.every((write) => write.bytes === chunk)).toBe(true);
    expect(hasher.bufferedBytes).toBe(5000);
    await pool.releaseAll();
    expect(await state(update)).toBe('fulfilled');
    expect(hasher.bufferedBytes).toBe(0);
    const digest = hasher.digest();
    await pool.releaseAll();
    await digest;
    await expectDigestOf(hasher, Uint8Array.from(chunk)); // a private copy: blake3's addon crashes on shared memory
  });

  it('keeps stream order when copied and shared chunks alternate: staged and slab bytes go first', async () => {
    const pool = createFakeHashPool(2);
    pool.hold = false;
    const hasher = createDualHasher(pool, { batchBytes: 1000, windowBytes: 4000, inlineBytes: 600 });
    const parts = [pattern(500, 12), sharedPattern(2000, 13), pattern(1500, 14), sharedPattern(700, 15), pattern(3, 16)];
    for (const part of parts) await hasher.update(part);
    await expectDigestOf(hasher, concat(parts));
    for (const session of pool.sessions) {
      const writes = pool.log.filter((write) => write.session === session);
      // 500 staged bytes, the shared chunk itself, a full slab, the rest of it (500), the shared chunk, the tail.
      expect(writes.map((write) => write.bytes.byteLength)).toEqual([500, 2000, 1000, 500, 700, 3]);
      expect(writes[1]?.bytes).toBe(parts[1]);
      expect(writes[4]?.bytes).toBe(parts[3]);
    }
  });

  it('a failed in-place write rejects that update and sticks', async () => {
    const pool = createFakeHashPool(2);
    const hasher = createDualHasher(pool, { inlineBytes: 0 });
    const update = hasher.update(sharedPattern(4000, 21));
    pool.failOne(new Error('worker died'));
    const error = await rejection(update);
    expect(error).toBeInstanceOf(HashError);
    expect(await rejection(hasher.update(sharedPattern(10, 22)))).toBe(error);
    expect(await rejection(hasher.digest())).toBe(error);
  });
});

describe('createDualHasher errors', () => {
  it('a failed write sticks: every later call rejects with the same error, sessions are aborted', async () => {
    const pool = createFakeHashPool(2);
    const hasher = createDualHasher(pool, { inlineBytes: 0, batchBytes: 1000, windowBytes: 2000 });
    const update = hasher.update(pattern(5000, 11));
    await state(update);
    pool.failOne(new Error('worker exploded'));
    const error = await rejection(update);
    expect(error).toBeInstanceOf(HashError);
    expect((error as HashError).code).toBe('worker-failed');
    expect((error as HashError).cause).toEqual(new Error('worker exploded'));
    expect(await rejection(hasher.update(new Uint8Array(1)))).toBe(error);
    expect(await rejection(hasher.digest())).toBe(error);
    expect(await rejection(hasher.digest())).toBe(error);
    expect(pool.sessions.every((s) => s.aborted)).toBe(true);
  });

  it('a session that cannot be opened fails the hasher, and the session already opened is aborted', async () => {
    const pool = createFakeHashPool(2);
    const closed = new HashError('pool-closed', 'hash pool closed');
    pool.openFailsAt = { after: 1, error: closed };
    const hasher = createDualHasher(pool, { inlineBytes: 0 });
    expect(await rejection(hasher.update(new Uint8Array(10)))).toBe(closed);
    expect(await rejection(hasher.digest())).toBe(closed);
    expect(pool.sessions.map((s) => s.aborted)).toEqual([true]);
  });

  it('a size mismatch from a worker is a sticky integrity error', async () => {
    const pool = createFakeHashPool(2);
    pool.hold = false;
    pool.sizeSkew = 1;
    const hasher = createDualHasher(pool, { inlineBytes: 0 });
    await hasher.update(pattern(100, 12));
    const error = await rejection(hasher.digest());
    expect((error as HashError).code).toBe('integrity');
    expect(await rejection(hasher.digest())).toBe(error);
    expect(await rejection(hasher.update(new Uint8Array(1)))).toBe(error);
  });

  it('rejects update after digest with invalid-state; digest returns the same promise', async () => {
    const hasher = createDualHasher(createFakeHashPool(2));
    await hasher.update(pattern(10, 13));
    const first = hasher.digest();
    expect(hasher.digest()).toBe(first);
    await first;
    expect(((await rejection(hasher.update(new Uint8Array(1)))) as HashError).code).toBe('invalid-state');
  });

  it('abort rejects the waiting update and everything after it, and aborts the sessions', async () => {
    const pool = createFakeHashPool(2);
    const hasher = createDualHasher(pool, { inlineBytes: 0, batchBytes: 1000, windowBytes: 1000 });
    const update = hasher.update(pattern(5000, 14));
    expect(await state(update)).toBe('pending');
    hasher.abort(new Error('caller gave up'));
    const error = (await rejection(update)) as HashError;
    expect(error.code).toBe('aborted');
    expect(error.cause).toEqual(new Error('caller gave up'));
    expect(await rejection(hasher.digest())).toBe(error);
    expect(pool.sessions.every((s) => s.aborted)).toBe(true);
    hasher.abort(); // twice is fine
  });

  it('abort after digest does nothing, so it can sit in a finally', async () => {
    const pool = createFakeHashPool(2);
    pool.hold = false;
    const hasher = createDualHasher(pool, { inlineBytes: 0 });
    const bytes = pattern(100, 15);
    await hasher.update(bytes);
    await hasher.digest();
    hasher.abort();
    await expectDigestOf(hasher, bytes);
    expect(pool.sessions.some((s) => s.aborted)).toBe(false);
  });

  it.each([
    [{ batchBytes: 0 }, 'batchBytes'],
    [{ batchBytes: 1.5 }, 'batchBytes'],
    [{ windowBytes: -1 }, 'windowBytes'],
    [{ inlineBytes: Number.NaN }, 'inlineBytes'],
  ])('rejects bad option %j naming the key', (options, key) => {
    expect(() => createDualHasher(createFakeHashPool(1), options)).toThrow(new RegExp(`"${key}"`));
  });
});
