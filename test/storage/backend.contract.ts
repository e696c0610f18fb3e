/**
 * The StorageBackend contract suite: every backend's test file calls `describeStorageBackend` and so runs
 * exactly these tests. A behaviour promised in `data-plane/storage/backend.ts` belongs here, not in one
 * backend's own tests.
 *
 * Every test starts from a fresh, empty backend. Afterwards the suite deletes each key the test committed
 * (tracked by wrapping the backend) and then requires the harness's raw view of the medium to be empty:
 * a staged write that was never cancelled, a temp file an abort forgot, or an object committed behind
 * the tracker's back fails the test that left it.
 */
import { createHash } from 'node:crypto';
import { afterEach, assert, beforeEach, describe, expect, it } from 'vitest';
import { Digest } from '../../core/identity/digest.ts';
import type { CommitOptions, CommitResult, GetObjectInput, GetOptions, StorageBackend, StorageWriter } from '../../data-plane/storage/backend.ts';
import { contentKey, validateKey } from '../../data-plane/storage/keys.ts';
import { collect, drain, expectStorageError } from './helpers.ts';

/** What a backend's test file hands the suite for one test. */
export interface StorageBackendHarness {
  /** A backend holding nothing yet. */
  readonly backend: StorageBackend;
  /**
   * Everything the medium physically holds, in any form the harness likes (paths, keys, staging
   * entries): committed objects, staged files, directories. Must be empty when the backend is empty.
   */
  leftovers(): Promise<string[]>;
  /** Releases the medium (removes the temp directory, …). Runs after the leftover check. */
  cleanup(): Promise<void>;
}

/** Builds a fresh harness; called once per test. */
export type StorageBackendFactory = () => Promise<StorageBackendHarness>;

/** Where the contract lets backends differ; each backend states its answers, and the suite checks them. */
export interface StorageBackendCapabilities {
  /** Whether `health()` reports the medium's capacity. */
  readonly reportsCapacity: boolean;
  /**
   * Whether `a` and `a/b` can both be stored. `rejected`: committing either while the other exists
   * fails with `invalid-key` (a filesystem cannot hold a file and a directory under one name).
   */
  readonly nestedKeys: 'rejected' | 'allowed';
}

/** Keys every method must reject with `invalid-key`. */
const INVALID_KEYS: Readonly<Record<string, string>> = {
  empty: '',
  'parent segment': '../x',
  'parent escape': 'a/../../b',
  absolute: '/etc/passwd',
  NUL: 'a\u0000b',
  'control character': 'a\nb',
  'upper case': 'A/B',
  backslash: 'a\\b',
  'dot segment': 'a/./b',
  'hidden segment': '.staging/x',
  'empty segment': 'a//b',
  'trailing slash': 'a/',
  space: 'a b',
  'non-ASCII': 'caf\u00e9',
  'overlong segment': 'x'.repeat(256),
};

const MiB = 1024 * 1024;

/** Registers the StorageBackend contract tests for one backend. */
export function describeStorageBackend(name: string, factory: StorageBackendFactory, capabilities: StorageBackendCapabilities): void {
  describe(`StorageBackend contract: ${name}`, () => {
    let harness: StorageBackendHarness;
    let backend: StorageBackend;
    let committed: Set<string>;

    beforeEach(async () => {
      harness = await factory();
      committed = new Set();
      backend = trackCommits(harness.backend, committed);
    });

    afterEach(async () => {
      try {
        for (const key of committed) await harness.backend.delete(key);
        // Work a backend goes on with after answering (a duplicate's staged copy) must end by settle().
        await harness.backend.settle();
        expect(await harness.leftovers(), 'the test left objects or staged writes behind').toEqual([]);
      } finally {
        await harness.cleanup();
      }
    });

    it('has a non-empty id', () => {
      expect(typeof backend.id).toBe('string');
      expect(backend.id.length).toBeGreaterThan(0);
    });

    it('stores an object and reads it back', async () => {
      const data = pseudoRandomBytes(10_000, 1);
      const writer = await backend.createWriter();
      try {
        await writer.write(data.subarray(0, 3));
        await writer.write(data.subarray(3));
        expect(writer.size).toBe(data.byteLength);
        expect(await writer.commit('basic/object')).toEqual({ created: true });
      } finally {
        await writer.cancel();
      }
      expect(sha256Hex(await read(backend, 'basic/object'))).toBe(sha256Hex(data));
      expect(await backend.head('basic/object')).toEqual({ size: data.byteLength });
    });

    it('stores a zero-byte object', async () => {
      expect(await put(backend, 'basic/empty', new Uint8Array(0))).toEqual({ created: true });
      expect((await read(backend, 'basic/empty')).byteLength).toBe(0);
      expect(await backend.head('basic/empty')).toEqual({ size: 0 });
      expect((await read(backend, 'basic/empty', { offset: 0, length: 5 })).byteLength).toBe(0);
      await expectStorageError(backend.get('basic/empty', { offset: 1 }), 'invalid-range');
    });

    it('stores 5 MiB written in uneven chunks and streams it back in bounded chunks', async () => {
      const data = pseudoRandomBytes(5 * MiB + 17, 2);
      await put(backend, contentKeyOf(data), data, [1, 4093, 65_537, 1_000_003, 7, 250_000]);
      const chunks: Uint8Array[] = [];
      for await (const chunk of await backend.get(contentKeyOf(data))) chunks.push(chunk);
      expect(chunks.length).toBeGreaterThan(1);
      expect(Math.max(...chunks.map((chunk) => chunk.byteLength))).toBeLessThanOrEqual(MiB);
      const joined = Buffer.concat(chunks);
      expect(joined.byteLength).toBe(data.byteLength);
      expect(sha256Hex(joined)).toBe(sha256Hex(data));
    });

    it('applies writes made before the previous one settled in call order, and commit waits for them', async () => {
      // Ingest hands its next block over while the last is still being written; past an S3 multipart
      // threshold, overlapping writes once started two uploads and lost the parts of one.
      const data = pseudoRandomBytes(17 * MiB + 5, 4);
      const sizes = [2 * MiB, 3 * MiB + 1, 1, 4 * MiB, 2 * MiB - 1, 65_536];
      const writer = await backend.createWriter();
      try {
        const writes: Promise<void>[] = [];
        for (let offset = 0, i = 0; offset < data.byteLength; i++) {
          const size = sizes[i % sizes.length] ?? 1;
          writes.push(writer.write(data.subarray(offset, offset + size)));
          offset += size;
        }
        const committed = writer.commit(contentKeyOf(data));
        // A write called after commit is refused, even while the commit is still running, and stores nothing.
        await expectStorageError(writer.write(new Uint8Array(10)), 'failed-precondition');
        await Promise.all(writes);
        expect(await committed).toEqual({ created: true });
      } finally {
        await writer.cancel();
      }
      const stored = Buffer.concat(await collect(await backend.get(contentKeyOf(data))));
      expect(stored.byteLength).toBe(data.byteLength);
      expect(sha256Hex(stored)).toBe(sha256Hex(data));
      await backend.delete(contentKeyOf(data));
    });

    it('lets a reader stop early', async () => {
      const data = pseudoRandomBytes(MiB, 3);
      await put(backend, 'basic/large', data);
      for await (const chunk of await backend.get('basic/large')) {
        expect(chunk.byteLength).toBeGreaterThan(0);
        break;
      }
      expect(sha256Hex(await read(backend, 'basic/large'))).toBe(sha256Hex(data));
    });

    // A Buffer too: its `slice()` is a view, not a copy (the memory writer once kept such views).
    it.each([
      ['Uint8Array', (bytes: Uint8Array): Uint8Array => bytes.slice()],
      ['Buffer', (bytes: Uint8Array): Uint8Array => Buffer.from(bytes)],
    ])('keeps no reference to written chunks (%s), and hands out chunks callers may modify', async (_, copyOf) => {
      const data = pseudoRandomBytes(1000, 4);
      const chunk = copyOf(data);
      const writer = await backend.createWriter();
      try {
        await writer.write(chunk);
        chunk.fill(0);
        await writer.commit('basic/copied');
      } finally {
        await writer.cancel();
      }
      for await (const received of await backend.get('basic/copied')) received.fill(0xff);
      expect(sha256Hex(await read(backend, 'basic/copied'))).toBe(sha256Hex(data));
    });

    it('reads with reuseBuffers: each chunk, copied before the next is asked for, gives the exact bytes', async () => {
      const data = pseudoRandomBytes(3 * MiB + 12_345, 6);
      await put(backend, 'basic/reused', data);
      for (const range of [{}, { offset: 1, length: 2 * MiB + 3 }, { offset: MiB, length: MiB }, { offset: 3 * MiB, length: 100_000 }, { offset: 5 }]) {
        const copies: Buffer[] = [];
        for await (const chunk of await backend.get('basic/reused', { ...range, reuseBuffers: true })) {
          expect(chunk.byteLength).toBeLessThanOrEqual(MiB);
          copies.push(Buffer.from(chunk));
        }
        const offset = range.offset ?? 0;
        const expected = data.subarray(offset, range.length === undefined ? undefined : offset + range.length);
        expect(sha256Hex(Buffer.concat(copies))).toBe(sha256Hex(expected));
      }
      // Leaving early releases the read (the object can still be read and deleted).
      for await (const chunk of await backend.get('basic/reused', { reuseBuffers: true })) {
        expect(chunk.byteLength).toBeGreaterThan(0);
        break;
      }
      expect((await read(backend, 'basic/reused', { offset: 0, length: 10 })).byteLength).toBe(10);
    });

    describe('ranged reads', () => {
      const size = 200_000;
      const data = pseudoRandomBytes(size, 5);
      const key = 'range/object';

      beforeEach(async () => {
        await put(backend, key, data, [65_536, 1, 134_463]);
      });

      it.each([
        ['the start', { offset: 0, length: 10 }, 0, 10],
        ['the middle, across chunk boundaries', { offset: 70_000, length: 100_000 }, 70_000, 170_000],
        ['the end', { offset: size - 10 }, size - 10, size],
        ['a length past the end (truncated)', { offset: size - 10, length: 1000 }, size - 10, size],
        ['offset only', { offset: 123_456 }, 123_456, size],
        ['length only', { length: 99 }, 0, 99],
        ['a zero length', { offset: 5, length: 0 }, 5, 5],
        ['offset == size (empty)', { offset: size }, size, size],
        ['offset == size with a length (empty)', { offset: size, length: 10 }, size, size],
      ] satisfies [string, GetOptions, number, number][])('reads %s', async (_label, options, start, end) => {
        const bytes = await read(backend, key, options);
        expect(bytes.byteLength).toBe(end - start);
        expect(sha256Hex(bytes)).toBe(sha256Hex(data.subarray(start, end)));
      });

      it('refuses with integrity, before any byte, a read whose expected size is not the stored size, whatever the range', async () => {
        for (const options of [
          { expectedSize: size + 1 },
          { expectedSize: size - 1, offset: 10, length: 5 },
          { expectedSize: size + 100, offset: size + 10 },
          { expectedSize: size - 1, offset: size, length: 0 },
          { expectedSize: 0, length: 0 },
        ] satisfies GetOptions[]) {
          await expectStorageError(backend.get(key, options), 'integrity');
        }
        expect(sha256Hex(await read(backend, key, { expectedSize: size, offset: 5, length: 5 }))).toBe(sha256Hex(data.subarray(5, 10)));
      });

      it('rejects an offset past the end with invalid-range', async () => {
        await expectStorageError(backend.get(key, { offset: size + 1 }), 'invalid-range');
        await expectStorageError(backend.get(key, { offset: size + 1, length: 0 }), 'invalid-range');
      });

      it.each([
        ['a negative offset', { offset: -1 }],
        ['a fractional offset', { offset: 1.5 }],
        ['a negative length', { length: -1 }],
        ['a NaN length', { length: Number.NaN }],
        ['an infinite length', { length: Number.POSITIVE_INFINITY }],
        ['a negative expected size', { expectedSize: -1 }],
      ] satisfies [string, GetOptions][])('rejects %s with invalid-range', async (_label, options) => {
        await expectStorageError(backend.get(key, options), 'invalid-range');
      });

      it('reports a missing object as not-found whatever the range', async () => {
        await expectStorageError(backend.get('range/missing', { offset: 10 ** 9 }), 'not-found');
      });
    });

    describe('head, get and delete of absent keys', () => {
      it('head resolves undefined and get rejects not-found for a missing key', async () => {
        expect(await backend.head('absent/key')).toBeUndefined();
        await expectStorageError(backend.get('absent/key'), 'not-found');
      });

      it('treats a key that is only a prefix of stored keys as absent', async () => {
        await put(backend, 'absent/dir/object', pseudoRandomBytes(10, 6));
        expect(await backend.head('absent/dir')).toBeUndefined();
        await expectStorageError(backend.get('absent/dir'), 'not-found');
        await backend.delete('absent/dir');
        expect(await backend.head('absent/dir/object')).toEqual({ size: 10 });
      });

      it('deletes idempotently', async () => {
        await put(backend, 'delete/me', pseudoRandomBytes(100, 7));
        await backend.delete('delete/me');
        expect(await backend.head('delete/me')).toBeUndefined();
        await expectStorageError(backend.get('delete/me'), 'not-found');
        await backend.delete('delete/me');
        await backend.delete('delete/never/stored');
      });

      it('can store a key again after deleting it', async () => {
        await put(backend, 'delete/again', pseudoRandomBytes(10, 8));
        await backend.delete('delete/again');
        expect(await put(backend, 'delete/again', pseudoRandomBytes(20, 9))).toEqual({ created: true });
        expect(await backend.head('delete/again')).toEqual({ size: 20 });
      });
    });

    describe('commit', () => {
      it('treats an existing object as success with created=false and never replaces it; one of another size is damaged', async () => {
        const first = pseudoRandomBytes(1000, 10);
        expect(await put(backend, 'commit/twice', first)).toEqual({ created: true });
        // Different bytes on purpose: the backend must keep the first object, not compare its bytes or replace it.
        expect(await put(backend, 'commit/twice', pseudoRandomBytes(1000, 11))).toEqual({ created: false });
        // The same key with another size: the stored copy is not these bytes (a key is a content address).
        await expectStorageError(put(backend, 'commit/twice', pseudoRandomBytes(2000, 11)), 'integrity');
        expect(sha256Hex(await read(backend, 'commit/twice'))).toBe(sha256Hex(first));
      });

      it('with replaceDamaged, replaces a stored object of another size (a damaged copy) atomically, and nothing else', async () => {
        const whole = pseudoRandomBytes(300_000, 13);
        const key = contentKeyOf(whole);
        // A damaged copy: the object cut short.
        expect(await put(backend, key, whole.subarray(0, 1000))).toEqual({ created: true });
        expect(await put(backend, key, whole, [65_536], { replaceDamaged: true })).toEqual({ created: false, repaired: true });
        expect(await backend.head(key)).toEqual({ size: whole.byteLength });
        expect(sha256Hex(await read(backend, key))).toBe(sha256Hex(whole));
        // The same size is never replaced, whatever the bytes: the backend does not compare them.
        expect(await put(backend, key, pseudoRandomBytes(whole.byteLength, 14), [65_536], { replaceDamaged: true })).toEqual({ created: false });
        expect(sha256Hex(await read(backend, key))).toBe(sha256Hex(whole));
        // Nothing under the key: an ordinary create.
        const fresh = pseudoRandomBytes(2000, 15);
        expect(await put(backend, contentKeyOf(fresh), fresh, undefined, { replaceDamaged: true })).toEqual({ created: true });
        // Without the option another size is still refused, and the copy kept.
        await expectStorageError(put(backend, key, whole.subarray(0, 5)), 'integrity');
        expect(sha256Hex(await read(backend, key))).toBe(sha256Hex(whole));
      });

      it('lets concurrent writers of the same content commit the same key: all succeed, one creates', async () => {
        const data = pseudoRandomBytes(300_000, 12);
        const key = contentKeyOf(data);
        const writers = await Promise.all(Array.from({ length: 8 }, () => backend.createWriter()));
        try {
          // Interleave the writers' chunks so every one is mid-stream while the others write.
          for (let offset = 0; offset < data.byteLength; offset += 50_000) {
            await Promise.all(writers.map((writer) => writer.write(data.subarray(offset, offset + 50_000))));
          }
          const results = await Promise.all(writers.map((writer) => writer.commit(key)));
          expect(results.filter((result) => result.created)).toHaveLength(1);
        } finally {
          await Promise.all(writers.map((writer) => writer.cancel()));
        }
        expect(await collect(backend.list(key.split('/')[0] ?? ''))).toEqual([key]);
        expect(sha256Hex(await read(backend, key))).toBe(sha256Hex(data));
      });

      it('keeps concurrent writers of different keys independent', async () => {
        const inputs = Array.from({ length: 6 }, (_, index) => pseudoRandomBytes(10_000 + index, 20 + index));
        const results = await Promise.all(inputs.map((data) => put(backend, contentKeyOf(data), data, [999])));
        expect(results.every((result) => result.created)).toBe(true);
        for (const data of inputs) expect(sha256Hex(await read(backend, contentKeyOf(data)))).toBe(sha256Hex(data));
      });

      it('makes nothing visible before commit', async () => {
        const writer = await backend.createWriter();
        try {
          await writer.write(pseudoRandomBytes(5000, 13));
          expect(await backend.head('visible/later')).toBeUndefined();
          await expectStorageError(backend.get('visible/later'), 'not-found');
          expect(await collect(backend.list(''))).toEqual([]);
          await writer.commit('visible/later');
        } finally {
          await writer.cancel();
        }
        expect(await backend.head('visible/later')).toEqual({ size: 5000 });
        expect(await collect(backend.list(''))).toEqual(['visible/later']);
      });

      it('leaves nothing behind when cancelled before commit', async () => {
        const writer = await backend.createWriter();
        await writer.write(pseudoRandomBytes(5000, 14));
        await writer.cancel();
        expect(await harness.leftovers()).toEqual([]);
        expect(await collect(backend.list(''))).toEqual([]);
      });

      it('accepts cancel twice, and cancel after commit', async () => {
        const cancelled = await backend.createWriter();
        await cancelled.write(pseudoRandomBytes(10, 15));
        await cancelled.cancel();
        await cancelled.cancel();

        const writer = await backend.createWriter();
        await writer.write(pseudoRandomBytes(10, 16));
        await writer.commit('cancel/after-commit');
        await writer.cancel();
        await writer.cancel();
        expect(await backend.head('cancel/after-commit')).toEqual({ size: 10 });
      });

      it('refuses write and commit after cancel with failed-precondition', async () => {
        const writer = await backend.createWriter();
        await writer.write(pseudoRandomBytes(10, 17));
        await writer.cancel();
        await expectStorageError(writer.commit('cancel/then-commit'), 'failed-precondition');
        await expectStorageError(writer.write(pseudoRandomBytes(10, 17)), 'failed-precondition');
        expect(await backend.head('cancel/then-commit')).toBeUndefined();
      });

      it('refuses write and a second commit after commit with failed-precondition', async () => {
        const writer = await backend.createWriter();
        await writer.write(pseudoRandomBytes(10, 18));
        await writer.commit('commit/once');
        await expectStorageError(writer.write(pseudoRandomBytes(10, 18)), 'failed-precondition');
        await expectStorageError(writer.commit('commit/elsewhere'), 'failed-precondition');
        expect(await backend.head('commit/once')).toEqual({ size: 10 });
        expect(await backend.head('commit/elsewhere')).toBeUndefined();
      });

      it('keeps the writer open after a commit with a malformed key', async () => {
        const data = pseudoRandomBytes(100, 19);
        const writer = await backend.createWriter();
        try {
          await writer.write(data);
          await expectStorageError(writer.commit('../escape'), 'invalid-key');
          await writer.commit('commit/second-try');
        } finally {
          await writer.cancel();
        }
        expect(sha256Hex(await read(backend, 'commit/second-try'))).toBe(sha256Hex(data));
      });

      if (capabilities.nestedKeys === 'rejected') {
        it('rejects keys nesting with stored keys with invalid-key and keeps the writer open', async () => {
          await put(backend, 'nest/a/b', pseudoRandomBytes(10, 30));
          const writer = await backend.createWriter();
          try {
            await writer.write(pseudoRandomBytes(10, 31));
            await expectStorageError(writer.commit('nest/a'), 'invalid-key');
            await expectStorageError(writer.commit('nest/a/b/c'), 'invalid-key');
            await backend.delete('nest/a/b');
            expect(await writer.commit('nest/a')).toEqual({ created: true });
          } finally {
            await writer.cancel();
          }
          expect(await backend.head('nest/a')).toEqual({ size: 10 });
        });
      } else {
        it('stores keys nesting with stored keys', async () => {
          await put(backend, 'nest/a/b', pseudoRandomBytes(10, 30));
          expect(await put(backend, 'nest/a', pseudoRandomBytes(11, 31))).toEqual({ created: true });
          expect(await backend.head('nest/a')).toEqual({ size: 11 });
          expect(await backend.head('nest/a/b')).toEqual({ size: 10 });
        });
      }
    });

    describe('putObjects', () => {
      it('stores whole objects like writers do, in order, and never replaces one', async () => {
        const inputs = Array.from({ length: 40 }, (_, index) => pseudoRandomBytes(index * 97, 80 + index));
        const objects = inputs.map((bytes) => ({ key: contentKeyOf(bytes), bytes }));
        expect(await backend.putObjects(objects)).toEqual(objects.map(() => ({ created: true })));
        for (const { key, bytes } of objects) {
          expect(sha256Hex(await read(backend, key))).toBe(sha256Hex(bytes));
          expect(await backend.head(key)).toEqual({ size: bytes.byteLength });
        }
        // Different bytes of the same sizes under the same keys: kept as first stored, reported as existing.
        const again = objects.map(({ key, bytes }, index) => ({ key, bytes: pseudoRandomBytes(bytes.byteLength, 200 + index) }));
        expect(await backend.putObjects(again)).toEqual(objects.map(() => ({ created: false })));
        // Another size under a stored key: that stored copy is damaged.
        await expectStorageError(backend.putObjects([{ key: objects[5]!.key, bytes: pseudoRandomBytes(7, 300) }]), 'integrity');
        for (const { key, bytes } of objects) expect(sha256Hex(await read(backend, key))).toBe(sha256Hex(bytes));
        expect(await backend.putObjects([])).toEqual([]);
      });

      it('with replaceDamaged, replaces stored objects of another size and keeps the rest', async () => {
        const inputs = Array.from({ length: 6 }, (_, index) => pseudoRandomBytes(3000 + index, 400 + index));
        const objects = inputs.map((bytes) => ({ key: contentKeyOf(bytes), bytes }));
        // Objects 1 and 4 stored cut short (damaged), object 2 stored whole.
        await backend.putObjects([objects[1]!, objects[4]!].map(({ key, bytes }) => ({ key, bytes: bytes.subarray(0, 100) })));
        await backend.putObjects([objects[2]!]);
        const results = await backend.putObjects(objects, { replaceDamaged: true });
        expect(results).toEqual([{ created: true }, { created: false, repaired: true }, { created: false }, { created: true }, { created: false, repaired: true }, { created: true }]);
        for (const { key, bytes } of objects) expect(sha256Hex(await read(backend, key))).toBe(sha256Hex(bytes));
      });

      it('stores a key given twice once, and exactly one of its results says created', async () => {
        const bytes = pseudoRandomBytes(5000, 90);
        const key = contentKeyOf(bytes);
        const results = await backend.putObjects(Array.from({ length: 70 }, () => ({ key, bytes })));
        expect(results.filter((result) => result.created)).toHaveLength(1);
        expect(await collect(backend.list(key.split('/')[0] ?? ''))).toEqual([key]);
      });

      it('keeps no reference to the bytes it was given', async () => {
        const data = pseudoRandomBytes(3000, 91);
        const bytes = data.slice();
        const pending = backend.putObjects([{ key: 'put/copied', bytes }]);
        await pending;
        bytes.fill(0);
        expect(sha256Hex(await read(backend, 'put/copied'))).toBe(sha256Hex(data));
      });

      it('rejects a malformed key with invalid-key before storing anything', async () => {
        const good = pseudoRandomBytes(100, 92);
        await expectStorageError(backend.putObjects([{ key: contentKeyOf(good), bytes: good }, { key: '../escape', bytes: good }]), 'invalid-key');
        expect(await backend.head(contentKeyOf(good))).toBeUndefined();
      });

      it('rejects with aborted before any effect when the signal has fired', async () => {
        const bytes = pseudoRandomBytes(100, 93);
        const controller = new AbortController();
        controller.abort(new Error('stop'));
        await expectStorageError(backend.putObjects([{ key: contentKeyOf(bytes), bytes }], { signal: controller.signal }), 'aborted');
        expect(await backend.head(contentKeyOf(bytes))).toBeUndefined();
      });

      if (capabilities.nestedKeys === 'rejected') {
        it('rejects an object nesting with a stored key with invalid-key and still stores the others', async () => {
          await put(backend, 'putnest/a/b', pseudoRandomBytes(10, 94));
          const other = pseudoRandomBytes(10, 95);
          await expectStorageError(
            backend.putObjects([
              { key: 'putnest/a', bytes: pseudoRandomBytes(10, 96) },
              { key: 'putnest/other', bytes: other },
            ]),
            'invalid-key',
          );
          expect(sha256Hex(await read(backend, 'putnest/other'))).toBe(sha256Hex(other));
          await backend.delete('putnest/other');
          expect(await backend.head('putnest/a')).toBeUndefined();
        });
      }
    });

    describe('getObjects', () => {
      it('reads whole objects in order, a key given twice and empty objects included, into buffers of the caller', async () => {
        // More objects and bytes than one read-worker message holds (32 objects, 4 MiB): the slices come back in order.
        const inputs = [...Array.from({ length: 40 }, (_, index) => pseudoRandomBytes(index * 131, 500 + index)), pseudoRandomBytes(3 * 1024 * 1024, 560), pseudoRandomBytes(2 * 1024 * 1024, 561)];
        const objects = inputs.map((bytes) => ({ key: contentKeyOf(bytes), bytes }));
        await backend.putObjects(objects);
        const wanted = [...objects, objects[3]!, objects[40]!, objects[0]!].map(({ key, bytes }) => ({ key, expectedSize: bytes.byteLength }));
        const read = await backend.getObjects(wanted);
        expect(read.map((bytes) => sha256Hex(bytes))).toEqual([...objects, objects[3]!, objects[40]!, objects[0]!].map(({ bytes }) => sha256Hex(bytes)));
        // The caller's to change: a second read is not affected.
        read[5]!.fill(0);
        expect(sha256Hex((await backend.getObjects([wanted[5]!]))[0]!)).toBe(sha256Hex(objects[5]!.bytes));
        expect(await backend.getObjects([])).toEqual([]);
      });

      it('rejects with the first failure in input order: not-found for an absent object or a key prefix, integrity for another size', async () => {
        const stored = pseudoRandomBytes(700, 570);
        await put(backend, contentKeyOf(stored), stored);
        await put(backend, 'getmany/a/b', pseudoRandomBytes(10, 571));
        const good = { key: contentKeyOf(stored), expectedSize: 700 };
        const absent = { key: contentKeyOf(pseudoRandomBytes(700, 572)), expectedSize: 700 };
        const damaged = { key: contentKeyOf(stored), expectedSize: 701 };
        await expectStorageError(backend.getObjects([good, absent, damaged]), 'not-found');
        await expectStorageError(backend.getObjects([good, damaged, absent]), 'integrity');
        await expectStorageError(backend.getObjects([good, { key: contentKeyOf(stored), expectedSize: 699 }]), 'integrity');
        await expectStorageError(backend.getObjects([good, { key: 'getmany/a', expectedSize: 10 }]), 'not-found');
        expect((await backend.getObjects([good]))[0]!.byteLength).toBe(700);
      });

      it('checks every key and size before reading anything, and a fired signal rejects with aborted', async () => {
        const bytes = pseudoRandomBytes(100, 580);
        await put(backend, contentKeyOf(bytes), bytes);
        const good = { key: contentKeyOf(bytes), expectedSize: 100 };
        // An absent object first: a backend reading before it checked the rest would answer not-found.
        const absent = { key: contentKeyOf(pseudoRandomBytes(100, 581)), expectedSize: 100 };
        await expectStorageError(backend.getObjects([absent, { key: '../escape', expectedSize: 1 }]), 'invalid-key');
        await expectStorageError(backend.getObjects([absent, { key: contentKeyOf(bytes), expectedSize: -1 }]), 'invalid-range');
        await expectStorageError(backend.getObjects([absent, { key: contentKeyOf(bytes), expectedSize: 1.5 }]), 'invalid-range');
        await expectStorageError(backend.getObjects([absent, { key: contentKeyOf(bytes) } as GetObjectInput]), 'invalid-range');
        const controller = new AbortController();
        controller.abort(new Error('stop'));
        await expectStorageError(backend.getObjects([good], { signal: controller.signal }), 'aborted');
      });
    });

    describe('cancellation', () => {
      it('removes staged bytes when the writer signal fires, and the error sticks', async () => {
        const controller = new AbortController();
        const writer = await backend.createWriter({ signal: controller.signal });
        await writer.write(pseudoRandomBytes(100_000, 40));
        controller.abort();
        const first = await expectStorageError(writer.write(pseudoRandomBytes(10, 41)), 'aborted');
        const second = await expectStorageError(writer.commit('abort/writer'), 'aborted');
        expect(second).toBe(first);
        // No cancel yet: the abort alone must have cleaned up.
        expect(await harness.leftovers()).toEqual([]);
        await writer.cancel();
        await expectStorageError(backend.get('abort/writer'), 'not-found');
      });

      it('fails the writer when the commit signal has fired, leaving nothing', async () => {
        const writer = await backend.createWriter();
        try {
          await writer.write(pseudoRandomBytes(100, 42));
          const error = await expectStorageError(writer.commit('abort/commit', { signal: AbortSignal.abort() }), 'aborted');
          expect(await expectStorageError(writer.write(pseudoRandomBytes(1, 43)), 'aborted')).toBe(error);
          expect(await backend.head('abort/commit')).toBeUndefined();
          expect(await harness.leftovers()).toEqual([]);
        } finally {
          await writer.cancel();
        }
      });

      it('rejects every call whose signal has already fired with aborted, without effect', async () => {
        const fired = AbortSignal.abort();
        await put(backend, 'abort/kept', pseudoRandomBytes(10, 44));
        await expectStorageError(backend.createWriter({ signal: fired }), 'aborted');
        await expectStorageError(backend.get('abort/kept', { signal: fired }), 'aborted');
        await expectStorageError(backend.head('abort/kept', { signal: fired }), 'aborted');
        await expectStorageError(backend.delete('abort/kept', { signal: fired }), 'aborted');
        await expectStorageError(collect(backend.list('', { signal: fired })), 'aborted');
        await expectStorageError(backend.health({ signal: fired }), 'aborted');
        expect(await backend.head('abort/kept')).toEqual({ size: 10 });
      });

      it('rejects a streaming read with aborted when its signal fires', async () => {
        await put(backend, 'abort/read', pseudoRandomBytes(MiB, 45));
        const controller = new AbortController();
        const iterator = (await backend.get('abort/read', { signal: controller.signal }))[Symbol.asyncIterator]();
        expect((await iterator.next()).done).toBe(false);
        controller.abort();
        await expectStorageError(drain(iterator), 'aborted');
      });
    });

    describe('key validation', () => {
      it.each(Object.entries(INVALID_KEYS))('rejects a key with %s on every method', async (_label, key) => {
        await expectStorageError(backend.get(key), 'invalid-key');
        await expectStorageError(backend.head(key), 'invalid-key');
        await expectStorageError(backend.delete(key), 'invalid-key');
        // The empty prefix is the one non-key list accepts: it means "everything".
        if (key !== '') await expectStorageError(collect(backend.list(key)), 'invalid-key');
        const writer = await backend.createWriter();
        try {
          await writer.write(pseudoRandomBytes(10, 50));
          await expectStorageError(writer.commit(key), 'invalid-key');
        } finally {
          await writer.cancel();
        }
      });

      it('accepts lower-case keys of any depth', async () => {
        const keys = ['k', 'k0/a-b/c_d/e.f', 'k1/x..y', contentKeyOf(pseudoRandomBytes(1, 51))];
        for (const key of keys) await put(backend, key, pseudoRandomBytes(1, 52));
        expect((await collect(backend.list(''))).sort()).toEqual([...keys].sort());
      });
    });

    describe('list', () => {
      it('yields the keys strictly below a prefix', async () => {
        const keys = ['list/a/1', 'list/a/2', 'list/b/1', 'list/c', 'other/x'];
        for (const key of keys) await put(backend, key, pseudoRandomBytes(3, 60));
        expect((await collect(backend.list(''))).sort()).toEqual([...keys].sort());
        expect((await collect(backend.list('list'))).sort()).toEqual(['list/a/1', 'list/a/2', 'list/b/1', 'list/c']);
        expect((await collect(backend.list('list/a'))).sort()).toEqual(['list/a/1', 'list/a/2']);
        expect(await collect(backend.list('list/c'))).toEqual([]);
        expect(await collect(backend.list('lis'))).toEqual([]);
        expect(await collect(backend.list('missing'))).toEqual([]);
      });

      it('lists content keys under their algorithm', async () => {
        const data = pseudoRandomBytes(10, 61);
        await put(backend, contentKeyOf(data), data);
        expect(await collect(backend.list('sha256'))).toEqual([contentKeyOf(data)]);
      });

      it('does not list staged writes', async () => {
        const writer = await backend.createWriter();
        try {
          await writer.write(pseudoRandomBytes(10, 62));
          expect(await collect(backend.list(''))).toEqual([]);
        } finally {
          await writer.cancel();
        }
      });
    });

    it('reports health', async () => {
      const health = await backend.health();
      expect(health.ok).toBe(true);
      expect(health.detail.length).toBeGreaterThan(0);
      if (capabilities.reportsCapacity) {
        assert(health.capacity !== undefined, 'capacity expected');
        expect(health.capacity.totalBytes).toBeGreaterThan(0);
        expect(health.capacity.freeBytes).toBeGreaterThanOrEqual(0);
        expect(health.capacity.freeBytes).toBeLessThanOrEqual(health.capacity.totalBytes);
      } else {
        expect(health.capacity).toBeUndefined();
      }
    });

    it('the leftover check sees staged writes and untracked objects (the suite can fail)', async () => {
      const writer = await backend.createWriter();
      await writer.write(pseudoRandomBytes(10, 70));
      expect(await harness.leftovers()).not.toEqual([]);
      await writer.cancel();
      expect(await harness.leftovers()).toEqual([]);

      // Committed through the raw backend, so the tracker will not delete it for us.
      await put(harness.backend, 'leftover/untracked', pseudoRandomBytes(10, 71));
      expect(await harness.leftovers()).not.toEqual([]);
      await harness.backend.delete('leftover/untracked');
    });
  });
}

/** True for a well-formed key (malformed keys are never stored, so never cleaned up). */
function isValidKeyForCleanup(key: string): boolean {
  try {
    validateKey(key);
    return true;
  } catch {
    return false;
  }
}

/** Wraps `backend` so every successful commit records its key in `committed`. */
function trackCommits(backend: StorageBackend, committed: Set<string>): StorageBackend {
  const track = (writer: StorageWriter): StorageWriter => ({
    get size() {
      return writer.size;
    },
    write: (chunk) => writer.write(chunk),
    commit: async (key, options) => {
      const result = await writer.commit(key, options);
      committed.add(key);
      return result;
    },
    cancel: () => writer.cancel(),
  });
  return {
    id: backend.id,
    createWriter: async (options) => track(await backend.createWriter(options)),
    putObjects: async (objects, options) => {
      try {
        return await backend.putObjects(objects, options);
      } finally {
        // Whatever got stored (also when one object failed) is the test's to clean up.
        for (const { key } of objects) if (isValidKeyForCleanup(key) && (await backend.head(key).catch(() => undefined)) !== undefined) committed.add(key);
      }
    },
    getObjects: (objects, options) => backend.getObjects(objects, options),
    get: (key, options) => backend.get(key, options),
    head: (key, options) => backend.head(key, options),
    delete: (key, options) => backend.delete(key, options),
    list: (prefix, options) => backend.list(prefix, options),
    health: (options) => backend.health(options),
    settle: () => backend.settle(),
  };
}

/** Stores `data` under `key`, written in chunks cycling through `chunkSizes`. */
async function put(backend: StorageBackend, key: string, data: Uint8Array, chunkSizes: readonly number[] = [data.byteLength || 1], options: CommitOptions = {}): Promise<CommitResult> {
  const writer = await backend.createWriter();
  try {
    let offset = 0;
    for (let index = 0; offset < data.byteLength; index++) {
      const size = chunkSizes[index % chunkSizes.length] ?? 1;
      await writer.write(data.subarray(offset, offset + size));
      offset += size;
    }
    expect(writer.size).toBe(data.byteLength);
    return await writer.commit(key, options);
  } finally {
    await writer.cancel();
  }
}

async function read(backend: StorageBackend, key: string, options?: GetOptions): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of await backend.get(key, options)) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** Deterministic bytes (xorshift32), so a failure reproduces exactly. */
function pseudoRandomBytes(size: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(size);
  let state = (seed * 2_654_435_761) >>> 0 || 1;
  for (let index = 0; index < size; index++) {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    bytes[index] = state & 0xff;
  }
  return bytes;
}

function contentKeyOf(data: Uint8Array): string {
  return contentKey(Digest.fromHex('sha256', sha256Hex(data)));
}

/** SHA-256 of `data` in hex: compares megabytes without megabyte-sized diffs in failure output. */
function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}
