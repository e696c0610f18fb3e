// The block feed (data-plane/ingest/block-feed.ts): gathers a stream into shared aligned blocks and hands
// each full block to one consumer while the next fills, holding at most maxBlocks.
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createDeferred, type Deferred } from '../../core/identity/deferred.ts';
import { isShared } from '../../core/identity/hash-pool.ts';
import { createBlockFeed, DEFAULT_ASSURED_BLOCKS, DEFAULT_MAX_BLOCKS, POOL_RESERVE_BLOCKS } from '../../data-plane/ingest/block-feed.ts';
import { settledState as state } from '../support/settled-state.ts';
import { acquireAlignedBlock, BLOCK_BYTES, freeAlignedBlocks, HEAD_BYTES, isAlignedView, type AlignedBlock } from '../../data-plane/storage/aligned-blocks.ts';


/** A consumer that keeps a copy of each block as handed over, and holds each call until released. */
function heldConsumer() {
  const calls: { bytes: Uint8Array; copy: Buffer; done: Deferred<void> }[] = [];
  return {
    calls,
    consume(bytes: Uint8Array): Promise<void> {
      const done = createDeferred<void>();
      calls.push({ bytes, copy: Buffer.from(bytes), done });
      return done.promise;
    },
  };
}

/**
 * Feeds `data` in chunks of `sizes` (repeated as needed) to a feed whose consumer checks that each block
 * is pooled, aligned memory; returns copies of the blocks as handed over.
 */
async function feedAligned(data: Uint8Array, sizes: readonly number[]): Promise<Buffer[]> {
  const seen: Buffer[] = [];
  const feed = createBlockFeed((bytes) => {
    expect(isAlignedView(bytes.subarray(0, 4096))).toBe(true);
    seen.push(Buffer.from(bytes));
    return Promise.resolve();
  });
  for (let offset = 0, i = 0; offset < data.byteLength; i++) {
    const size = sizes[i % sizes.length] ?? 1;
    await feed.push(data.subarray(offset, offset + size));
    offset += size;
  }
  await feed.end();
  await feed.close();
  return seen;
}

const taken: AlignedBlock[] = [];
afterEach(() => {
  for (const block of taken.splice(0)) block.release();
});

describe('createBlockFeed', () => {
  it('hands over full blocks of the stream in order, then the partial last one, on pooled aligned memory', async () => {
    const free = freeAlignedBlocks();
    const data = randomBytes(2 * BLOCK_BYTES + 100_003);
    // Uneven chunk sizes, one larger than a block.
    const seen = await feedAligned(data, [1, 65_536, 3 * 1024 * 1024, 17]);
    expect(seen.map((b) => b.byteLength)).toEqual([BLOCK_BYTES, BLOCK_BYTES, 100_003]);
    expect(Buffer.concat(seen).equals(data)).toBe(true);
    expect(freeAlignedBlocks()).toBe(free);
  });

  it('holds at most maxBlocks: push waits until the consumer is done with the oldest, which is refilled', async () => {
    const consumer = heldConsumer();
    const feed = createBlockFeed((bytes) => consumer.consume(bytes), { maxBlocks: 2 });
    const data = randomBytes(3 * BLOCK_BYTES);
    await feed.push(data.subarray(0, 2 * BLOCK_BYTES)); // two blocks handed over, none held back
    expect(consumer.calls).toHaveLength(2);
    const third = feed.push(data.subarray(2 * BLOCK_BYTES));
    expect(await state(third)).toBe('pending');
    consumer.calls[0]?.done.resolve();
    expect(await state(third)).toBe('fulfilled');
    expect(consumer.calls).toHaveLength(3);
    // The third block is the first one again, refilled only after its consumer call resolved.
    expect(consumer.calls[2]?.bytes.buffer).toBe(consumer.calls[0]?.bytes.buffer);
    expect(consumer.calls[2]?.bytes.byteOffset).toBe(consumer.calls[0]?.bytes.byteOffset);
    const free = freeAlignedBlocks();
    const end = feed.end();
    expect(await state(end)).toBe('pending');
    for (const call of consumer.calls) call.done.resolve();
    await end;
    expect(freeAlignedBlocks(), 'end gives the blocks back, before close').toBe(free + 2);
    await feed.close();
    expect(freeAlignedBlocks()).toBe(free + 2);
    expect(Buffer.concat(consumer.calls.map((call) => call.copy)).equals(data)).toBe(true);
  });

  it('write copies without a promise while a block is free, returns one only when it must wait, and reuses a finished block at once', async () => {
    const consumer = heldConsumer();
    const feed = createBlockFeed((bytes) => consumer.consume(bytes), { maxBlocks: 2 });
    const data = randomBytes(4 * BLOCK_BYTES);
    expect(feed.write(data.subarray(0, HEAD_BYTES))).toBeUndefined(); // into the head
    expect(feed.write(data.subarray(HEAD_BYTES, 2 * BLOCK_BYTES))).toBeUndefined(); // two blocks, both free
    expect(consumer.calls).toHaveLength(2);
    const third = feed.write(data.subarray(2 * BLOCK_BYTES, 3 * BLOCK_BYTES));
    expect(third).toBeInstanceOf(Promise);
    expect(await state(third as Promise<void>)).toBe('pending');
    consumer.calls[0]?.done.resolve();
    expect(await state(third as Promise<void>)).toBe('fulfilled');
    expect(consumer.calls).toHaveLength(3);
    // The second block's consumer call is done before the next write: its block is taken back without a promise.
    consumer.calls[1]?.done.resolve();
    await state(consumer.calls[1]?.done.promise as Promise<void>);
    expect(feed.write(data.subarray(3 * BLOCK_BYTES))).toBeUndefined();
    expect(consumer.calls).toHaveLength(4);
    expect(consumer.calls[3]?.bytes.byteOffset).toBe(consumer.calls[1]?.bytes.byteOffset);
    for (const call of consumer.calls) call.done.resolve();
    await feed.end();
    await feed.close();
    expect(Buffer.concat(consumer.calls.map((call) => call.copy)).equals(data)).toBe(true);
  });

  it('close waits for a write that is waiting for a block before the blocks go back to the pool', async () => {
    const free = freeAlignedBlocks();
    const consumer = heldConsumer();
    const feed = createBlockFeed((bytes) => consumer.consume(bytes), { maxBlocks: 1 });
    expect(feed.write(new Uint8Array(BLOCK_BYTES))).toBeUndefined();
    const waiting = feed.write(new Uint8Array(10).fill(9)) as Promise<void>;
    const closing = feed.close();
    expect(await state(closing)).toBe('pending');
    expect(freeAlignedBlocks(), 'the waiting write still holds its block').toBe(free - 1);
    consumer.calls[0]?.done.resolve();
    await waiting;
    await closing;
    expect(freeAlignedBlocks()).toBe(free);
  });

  it('write throws a consumer failure it already knows, and a failure found while waiting rejects its promise', async () => {
    const consumer = heldConsumer();
    const feed = createBlockFeed((bytes) => consumer.consume(bytes), { maxBlocks: 1 });
    expect(feed.write(new Uint8Array(BLOCK_BYTES))).toBeUndefined();
    const waiting = feed.write(new Uint8Array(10));
    const failure = new Error('disk gone');
    consumer.calls[0]?.done.reject(failure);
    await expect(waiting).rejects.toBe(failure);
    expect(() => feed.write(new Uint8Array(10))).toThrow(failure);
    await feed.close();
  });

  it('a consumer failure sticks: the waiting push, later pushes and end reject with it', async () => {
    const consumer = heldConsumer();
    const feed = createBlockFeed((bytes) => consumer.consume(bytes), { maxBlocks: 1 });
    await feed.push(new Uint8Array(BLOCK_BYTES));
    const waiting = feed.push(new Uint8Array(10));
    const failure = new Error('disk gone');
    consumer.calls[0]?.done.reject(failure);
    await expect(waiting).rejects.toBe(failure);
    await expect(feed.push(new Uint8Array(10))).rejects.toBe(failure);
    await expect(feed.end()).rejects.toBe(failure);
    await feed.close();
  });

  it('close waits for every consumer call to settle before the blocks go back to the pool', async () => {
    const free = freeAlignedBlocks();
    const consumer = heldConsumer();
    const feed = createBlockFeed((bytes) => consumer.consume(bytes));
    await feed.push(new Uint8Array(2 * BLOCK_BYTES + 5));
    const closing = feed.close();
    expect(await state(closing)).toBe('pending');
    expect(freeAlignedBlocks()).toBe(free - 3);
    consumer.calls[0]?.done.resolve();
    consumer.calls[1]?.done.reject(new Error('ignored at close'));
    await closing;
    expect(freeAlignedBlocks()).toBe(free);
    await expect(feed.push(new Uint8Array(1))).rejects.toThrow('closed');
  });

  it('with the pool exhausted, gathers into shared memory of its own', async () => {
    for (let block = acquireAlignedBlock(); block !== undefined; block = acquireAlignedBlock()) taken.push(block);
    const seen: Uint8Array[] = [];
    const feed = createBlockFeed((bytes) => {
      expect(isShared(bytes)).toBe(true);
      expect(isAlignedView(bytes)).toBe(false);
      seen.push(Uint8Array.from(bytes));
      return Promise.resolve();
    });
    const data = randomBytes(BLOCK_BYTES + 1);
    await feed.push(data);
    await feed.end();
    await feed.close();
    expect(Buffer.concat(seen).equals(data)).toBe(true);
  });

  it('a stream within HEAD_BYTES takes no pooled block: many at once leave the pool as it was', async () => {
    const free = freeAlignedBlocks();
    const streams = Array.from({ length: 64 }, (_, i) => {
      const consumer = heldConsumer();
      return { consumer, feed: createBlockFeed((bytes) => consumer.consume(bytes)), data: randomBytes(i === 0 ? HEAD_BYTES : 1 + i * 4000) };
    });
    // Every stream pushes its bytes in uneven chunks and ends; all of them are in flight together.
    const ends: Promise<void>[] = [];
    for (const { feed, data } of streams) {
      for (let offset = 0, i = 0; offset < data.byteLength; i++) {
        const size = [65_536, 1, 3000][i % 3] ?? 1;
        await feed.push(data.subarray(offset, offset + size));
        offset += size;
      }
      ends.push(feed.end());
    }
    expect(freeAlignedBlocks(), 'pooled blocks held by small streams').toBe(free);
    for (const { consumer, data } of streams) {
      // One hand-over, on shared memory of the feed's own (read in place by the hash workers), with all of
      // the stream's bytes.
      expect(consumer.calls).toHaveLength(1);
      expect(isShared(consumer.calls[0]?.bytes ?? new Uint8Array())).toBe(true);
      expect(isAlignedView(consumer.calls[0]?.bytes ?? new Uint8Array())).toBe(false);
      expect(consumer.calls[0]?.copy.equals(data)).toBe(true);
      consumer.calls[0]?.done.resolve();
    }
    await Promise.all(ends);
    for (const { feed } of streams) await feed.close();
    expect(freeAlignedBlocks()).toBe(free);
  });

  it('a stream that outgrows the head goes on in pooled blocks, the head copied to the start of the first', async () => {
    for (const sizes of [[HEAD_BYTES, 1], [HEAD_BYTES - 1, 2, BLOCK_BYTES], [1, HEAD_BYTES + BLOCK_BYTES]]) {
      const free = freeAlignedBlocks();
      const data = randomBytes(sizes.reduce((a, b) => a + b, 0));
      const seen = await feedAligned(data, sizes);
      expect(Buffer.concat(seen).equals(data), `chunks ${sizes.join(', ')}`).toBe(true);
      expect(seen[0]?.byteLength).toBe(Math.min(BLOCK_BYTES, data.byteLength));
      expect(freeAlignedBlocks()).toBe(free);
    }
  });

  it('an empty stream hands nothing over', async () => {
    const consumer = heldConsumer();
    const feed = createBlockFeed((bytes) => consumer.consume(bytes));
    await feed.push(new Uint8Array(0));
    await feed.end();
    await feed.close();
    expect(consumer.calls).toHaveLength(0);
  });

  it('refuses a maxBlocks or assuredBlocks below 1', () => {
    expect(() => createBlockFeed(() => Promise.resolve(), { maxBlocks: 0 })).toThrow(RangeError);
    expect(() => createBlockFeed(() => Promise.resolve(), { assuredBlocks: 0 })).toThrow(RangeError);
    expect(() => createBlockFeed(() => Promise.resolve(), { assuredBlocks: 1.5 })).toThrow(RangeError);
  });

  it('refills a block whose consumer is done before taking another: a consumer that keeps up holds at most two', async () => {
    const free = freeAlignedBlocks();
    let leastFree = free;
    const data = randomBytes(40 * BLOCK_BYTES + 77);
    const seen: Buffer[] = [];
    const feed = createBlockFeed(async (bytes) => {
      seen.push(Buffer.from(bytes));
      await Promise.resolve();
      leastFree = Math.min(leastFree, freeAlignedBlocks());
    });
    for (let offset = 0; offset < data.byteLength; offset += 65_536) await feed.push(data.subarray(offset, offset + 65_536));
    await feed.end();
    await feed.close();
    expect(Buffer.concat(seen).equals(data)).toBe(true);
    expect(free - leastFree, 'pooled blocks held at once').toBeLessThanOrEqual(2);
    expect(freeAlignedBlocks()).toBe(free);
  });

  it('behind a stalled consumer takes up to maxBlocks pooled blocks, then waits; every byte arrives in order', async () => {
    const free = freeAlignedBlocks();
    expect(free - DEFAULT_MAX_BLOCKS, 'the test needs a pool deep enough for the default').toBeGreaterThan(POOL_RESERVE_BLOCKS);
    const consumer = heldConsumer();
    const feed = createBlockFeed((bytes) => consumer.consume(bytes));
    const data = randomBytes((DEFAULT_MAX_BLOCKS + 2) * BLOCK_BYTES);
    expect(feed.write(data.subarray(0, DEFAULT_MAX_BLOCKS * BLOCK_BYTES)), 'every block taken without waiting').toBeUndefined();
    expect(consumer.calls).toHaveLength(DEFAULT_MAX_BLOCKS);
    expect(freeAlignedBlocks()).toBe(free - DEFAULT_MAX_BLOCKS);
    for (const call of consumer.calls) expect(isAlignedView(call.bytes)).toBe(true);
    const more = feed.write(data.subarray(DEFAULT_MAX_BLOCKS * BLOCK_BYTES)) as Promise<void>;
    expect(more).toBeInstanceOf(Promise);
    expect(await state(more)).toBe('pending');
    consumer.calls[0]?.done.resolve();
    consumer.calls[1]?.done.resolve();
    await more;
    expect(freeAlignedBlocks(), 'the two freed blocks refilled, none taken').toBe(free - DEFAULT_MAX_BLOCKS);
    const ending = feed.end();
    for (let i = 0; i < consumer.calls.length; i++) consumer.calls[i]?.done.resolve();
    await ending;
    await feed.close();
    expect(Buffer.concat(consumer.calls.map((call) => call.copy)).equals(data)).toBe(true);
    expect(freeAlignedBlocks()).toBe(free);
  });

  it('past its assured blocks takes a pooled block only while the pool keeps POOL_RESERVE_BLOCKS free', async () => {
    const extra = 2;
    // Leave the pool with room for the assured blocks plus `extra` above the reserve.
    while (freeAlignedBlocks() > POOL_RESERVE_BLOCKS + DEFAULT_ASSURED_BLOCKS + extra) taken.push(acquireAlignedBlock() as AlignedBlock);
    const consumer = heldConsumer();
    const feed = createBlockFeed((bytes) => consumer.consume(bytes));
    const data = randomBytes(DEFAULT_MAX_BLOCKS * BLOCK_BYTES);
    const waiting = feed.write(data) as Promise<void>;
    expect(waiting).toBeInstanceOf(Promise);
    expect(await state(waiting)).toBe('pending');
    expect(consumer.calls).toHaveLength(DEFAULT_ASSURED_BLOCKS + extra);
    expect(freeAlignedBlocks(), 'the reserve is left for other streams').toBe(POOL_RESERVE_BLOCKS);
    // A second stream still gets its assured blocks from the pool.
    const other = heldConsumer();
    const second = createBlockFeed((bytes) => other.consume(bytes));
    const secondData = randomBytes(DEFAULT_ASSURED_BLOCKS * BLOCK_BYTES);
    expect(second.write(secondData)).toBeUndefined();
    for (const call of other.calls) expect(isAlignedView(call.bytes)).toBe(true);
    expect(freeAlignedBlocks()).toBe(POOL_RESERVE_BLOCKS - DEFAULT_ASSURED_BLOCKS);
    for (const [c, stream] of [[consumer, feed], [other, second]] as const) {
      const ending = (async () => {
        await (stream === feed ? waiting : undefined);
        await stream.end();
      })();
      // Release calls as they come until the stream has ended (a stream that stops asking ends the loop).
      for (let i = 0; (await state(ending)) === 'pending'; i++) {
        const call = c.calls[i];
        if (call === undefined) break;
        call.done.resolve();
      }
      await ending;
      await stream.close();
    }
    expect(Buffer.concat(consumer.calls.map((call) => call.copy)).equals(data)).toBe(true);
    expect(Buffer.concat(other.calls.map((call) => call.copy)).equals(secondData)).toBe(true);
  });

  it('gives the blocks a stall made it take back to the pool once the consumer has caught up', async () => {
    const free = freeAlignedBlocks();
    const consumer = heldConsumer();
    const feed = createBlockFeed((bytes) => consumer.consume(bytes));
    const data = randomBytes((DEFAULT_MAX_BLOCKS + 1) * BLOCK_BYTES);
    expect(feed.write(data.subarray(0, DEFAULT_MAX_BLOCKS * BLOCK_BYTES))).toBeUndefined();
    expect(freeAlignedBlocks()).toBe(free - DEFAULT_MAX_BLOCKS);
    for (const call of consumer.calls) call.done.resolve();
    await state(consumer.calls[DEFAULT_MAX_BLOCKS - 1]?.done.promise as Promise<void>);
    // The next block refills the oldest; the other idle ones go back, down to the assured blocks.
    expect(feed.write(data.subarray(DEFAULT_MAX_BLOCKS * BLOCK_BYTES))).toBeUndefined();
    expect(consumer.calls).toHaveLength(DEFAULT_MAX_BLOCKS + 1);
    expect(consumer.calls[DEFAULT_MAX_BLOCKS]?.bytes.byteOffset).toBe(consumer.calls[0]?.bytes.byteOffset);
    expect(freeAlignedBlocks(), 'the assured blocks held, the rest back in the pool').toBe(free - DEFAULT_ASSURED_BLOCKS);
    consumer.calls[DEFAULT_MAX_BLOCKS]?.done.resolve();
    await feed.end();
    await feed.close();
    expect(Buffer.concat(consumer.calls.map((call) => call.copy)).equals(data)).toBe(true);
    expect(freeAlignedBlocks()).toBe(free);
  });

  it('a consumer failure stops the stream at the next write, with no further block handed over', async () => {
    const free = freeAlignedBlocks();
    const consumer = heldConsumer();
    const feed = createBlockFeed((bytes) => consumer.consume(bytes));
    expect(feed.write(new Uint8Array(2 * BLOCK_BYTES))).toBeUndefined();
    const failure = new Error('disk gone');
    consumer.calls[0]?.done.reject(failure);
    await state(consumer.calls[0]?.done.promise as Promise<void>);
    expect(() => feed.write(new Uint8Array(BLOCK_BYTES))).toThrow(failure);
    expect(consumer.calls).toHaveLength(2);
    consumer.calls[1]?.done.resolve();
    await expect(feed.end()).rejects.toBe(failure);
    await feed.close();
    expect(freeAlignedBlocks()).toBe(free);
  });

  it('a write waiting for a block hands nothing more over when another consumer call failed meanwhile', async () => {
    const free = freeAlignedBlocks();
    const consumer = heldConsumer();
    const feed = createBlockFeed((bytes) => consumer.consume(bytes), { maxBlocks: 2 });
    const waiting = feed.write(new Uint8Array(4 * BLOCK_BYTES)) as Promise<void>;
    expect(consumer.calls).toHaveLength(2);
    const failure = new Error('disk gone');
    consumer.calls[1]?.done.reject(failure);
    consumer.calls[0]?.done.resolve();
    await expect(waiting).rejects.toBe(failure);
    expect(consumer.calls, 'no block handed over after the failure').toHaveLength(2);
    await feed.close();
    expect(freeAlignedBlocks()).toBe(free);
  });

  it('with the pool exhausted, holds only its assured blocks of its own memory', async () => {
    for (let block = acquireAlignedBlock(); block !== undefined; block = acquireAlignedBlock()) taken.push(block);
    const consumer = heldConsumer();
    const feed = createBlockFeed((bytes) => consumer.consume(bytes));
    const data = randomBytes((DEFAULT_ASSURED_BLOCKS + 1) * BLOCK_BYTES);
    const waiting = feed.write(data) as Promise<void>;
    expect(await state(waiting)).toBe('pending');
    expect(consumer.calls).toHaveLength(DEFAULT_ASSURED_BLOCKS);
    for (const call of consumer.calls) expect(isAlignedView(call.bytes)).toBe(false);
    consumer.calls[0]?.done.resolve();
    await waiting;
    const ending = feed.end();
    for (const call of consumer.calls) call.done.resolve();
    await ending;
    await feed.close();
    expect(Buffer.concat(consumer.calls.map((call) => call.copy)).equals(data)).toBe(true);
  });
});
