import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { copyBytes } from '../../core/bytes/copy-bytes.ts';

/** Every pairing the data path copies between: plain and shared memory, Buffers and bare Uint8Arrays. */
const memories = {
  'ArrayBuffer': (n: number) => new Uint8Array(new ArrayBuffer(n)),
  'SharedArrayBuffer': (n: number) => new Uint8Array(new SharedArrayBuffer(n)),
  'Buffer on SharedArrayBuffer': (n: number) => Buffer.from(new SharedArrayBuffer(n)),
  'Buffer': (n: number) => Buffer.alloc(n),
} satisfies Record<string, (n: number) => Uint8Array>;

describe('copyBytes', () => {
  for (const [targetKind, makeTarget] of Object.entries(memories)) {
    for (const [sourceKind, makeSource] of Object.entries(memories)) {
      it(`copies ${sourceKind} into ${targetKind} at an offset, touching nothing else`, () => {
        const target = makeTarget(4096).fill(0xee);
        const source = makeSource(1000);
        source.set(randomBytes(1000));
        // A view in the middle of its buffer, as the feed copies parts of socket chunks.
        const part = source.subarray(17, 17 + 333);
        copyBytes(target, part, 101);
        expect(Buffer.from(target.subarray(101, 101 + 333)).equals(Buffer.from(part))).toBe(true);
        expect(target.subarray(0, 101).every((b) => b === 0xee)).toBe(true);
        expect(target.subarray(101 + 333).every((b) => b === 0xee)).toBe(true);
      });
    }
  }

  it('copies up to the last byte of the target and defaults the offset to 0', () => {
    const target = new Uint8Array(new SharedArrayBuffer(8));
    copyBytes(target, Uint8Array.of(1, 2, 3));
    copyBytes(target, Uint8Array.of(7, 8), 6);
    expect([...target]).toEqual([1, 2, 3, 0, 0, 0, 7, 8]);
  });

  it('does nothing for an empty source, even at the very end', () => {
    const target = new Uint8Array(4).fill(9);
    copyBytes(target, new Uint8Array(0), 4);
    expect([...target]).toEqual([9, 9, 9, 9]);
  });

  it('refuses a source that does not fit, or a bad offset, and leaves the target untouched', () => {
    const target = new Uint8Array(8).fill(5);
    expect(() => copyBytes(target, new Uint8Array(3), 6)).toThrow(RangeError);
    expect(() => copyBytes(target, new Uint8Array(1), -1)).toThrow(RangeError);
    expect(() => copyBytes(target, new Uint8Array(1), 1.5)).toThrow(RangeError);
    expect([...target]).toEqual([5, 5, 5, 5, 5, 5, 5, 5]);
  });
});
