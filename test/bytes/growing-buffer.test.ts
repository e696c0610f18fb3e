import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { GrowingBuffer } from '../../core/bytes/growing-buffer.ts';

describe('GrowingBuffer', () => {
  it('gathers copies of chunks in order, growing as they come, up to exactly the limit', () => {
    const limit = 100_000;
    const head = new GrowingBuffer(limit);
    const data = randomBytes(limit);
    const sizes = [1, 0, 17, 16_384, 40_000, 3];
    let offset = 0;
    for (const size of sizes) {
      const chunk = Buffer.from(data.subarray(offset, offset + size));
      expect(head.tryAppend(chunk)).toBe(true);
      chunk.fill(0); // the caller reuses its chunk: the buffer kept a copy
      offset += size;
    }
    expect(head.tryAppend(data.subarray(offset))).toBe(true); // up to the limit itself
    expect(head.length).toBe(limit);
    expect(head.view().equals(data)).toBe(true);
  });

  it('refuses a chunk that would pass the limit and keeps what it has', () => {
    const head = new GrowingBuffer(1000);
    const first = randomBytes(600);
    expect(head.tryAppend(first)).toBe(true);
    expect(head.tryAppend(new Uint8Array(401))).toBe(false);
    expect(head.length).toBe(600);
    expect(head.view().equals(first)).toBe(true);
    expect(head.tryAppend(new Uint8Array(400))).toBe(true);
    expect(head.length).toBe(1000);
  });

  it('copies from shared memory too, and clear lets the bytes go', () => {
    const shared = Buffer.from(new SharedArrayBuffer(5000));
    shared.set(randomBytes(5000));
    const head = new GrowingBuffer(10_000);
    expect(head.tryAppend(shared.subarray(100, 4100))).toBe(true);
    expect(head.view().equals(shared.subarray(100, 4100))).toBe(true);
    expect(head.view().buffer).not.toBe(shared.buffer);
    head.clear();
    expect(head.length).toBe(0);
    expect(head.view().byteLength).toBe(0);
    expect(head.tryAppend(new Uint8Array([7]))).toBe(true);
    expect([...head.view()]).toEqual([7]);
  });

  it('keeps its bytes on a SharedArrayBuffer when asked to, on ordinary memory otherwise', () => {
    for (const shared of [true, false]) {
      const head = new GrowingBuffer(100_000, { shared });
      const data = randomBytes(70_000);
      expect(head.tryAppend(data.subarray(0, 10))).toBe(true);
      expect(head.tryAppend(data.subarray(10))).toBe(true); // grown: the bytes moved to a larger buffer
      expect(head.view().buffer instanceof SharedArrayBuffer).toBe(shared);
      expect(head.view().equals(data)).toBe(true);
    }
  });

  it('allocates the initial capacity asked for at once, grows beyond it, and refuses a bad one', () => {
    const head = new GrowingBuffer(1_000_000, { initialCapacity: 300_000 });
    const data = randomBytes(500_000);
    expect(head.tryAppend(data.subarray(0, 10))).toBe(true);
    const first = head.view().buffer;
    expect(first.byteLength).toBe(300_000);
    expect(head.tryAppend(data.subarray(10, 299_000))).toBe(true);
    expect(head.view().buffer).toBe(first); // no growth within the initial capacity
    expect(head.tryAppend(data.subarray(299_000))).toBe(true);
    expect(head.view().buffer).not.toBe(first);
    expect(head.view().equals(data)).toBe(true);
    const capped = new GrowingBuffer(100, { initialCapacity: 1000 });
    expect(capped.tryAppend(new Uint8Array(1))).toBe(true);
    expect(capped.view().buffer.byteLength).toBe(100); // never more than the limit
    for (const bad of [0, -1, 1.5]) expect(() => new GrowingBuffer(100, { initialCapacity: bad })).toThrow(RangeError);
  });

  it('is empty at first, and takes an empty chunk even at the limit', () => {
    const head = new GrowingBuffer(0);
    expect(head.length).toBe(0);
    expect(head.view().byteLength).toBe(0);
    expect(head.tryAppend(new Uint8Array(0))).toBe(true);
    expect(head.tryAppend(new Uint8Array(1))).toBe(false);
  });

  it('refuses a limit that is not a non-negative integer', () => {
    expect(() => new GrowingBuffer(-1)).toThrow(RangeError);
    expect(() => new GrowingBuffer(1.5)).toThrow(RangeError);
  });
});
