import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hash as blake3 } from 'blake3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createDeferred } from '../../core/identity/deferred.ts';
import { createHashPool, type HashPool } from '../../core/identity/hash-pool.ts';
import { ingestObject, ingestObjects } from '../../data-plane/ingest/ingest-object.ts';
import { freeAlignedBlocks, HEAD_BYTES } from '../../data-plane/storage/aligned-blocks.ts';
import { createFakeHashPool } from '../identity/fake-hash-pool.ts';
import type { StorageBackend } from '../../data-plane/storage/backend.ts';
import { createLocalBackend } from '../../data-plane/storage/local/local-backend.ts';
import { createMemoryBackend } from '../../data-plane/storage/memory/memory-backend.ts';
import { contentKey } from '../../data-plane/storage/keys.ts';
import { Digest } from '../../core/identity/digest.ts';
import { createS3Backend } from '../../data-plane/storage/s3/s3-backend.ts';
import { createTestBucket, listObjects, listUploads, S3_TESTS_ENABLED } from '../support/rgw.ts';

let pool: HashPool;
let blocksBefore: number;
beforeAll(() => {
  pool = createHashPool({ size: 2 });
  blocksBefore = freeAlignedBlocks();
});
afterAll(async () => {
  await pool.close();
});

function* syncChunks(bytes: Uint8Array, size = 65_536): Generator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, Math.min(bytes.length, i + size));
}

/** As a socket delivers them: ingest gathers these into shared blocks (block-feed.ts). */
async function* streamedChunks(bytes: Uint8Array, size = 65_536): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield await Promise.resolve(bytes.subarray(i, Math.min(bytes.length, i + size)));
}

/** In-memory sources (a batch's files) pass straight through; streamed ones are gathered: both must store the same. */
const sources = { 'in memory': syncChunks, streamed: streamedChunks } as const;

function addresses(bytes: Uint8Array): { blake3: string; sha256: string } {
  return { blake3: `blake3:${blake3(bytes).toString('hex')}`, sha256: `sha256:${createHash('sha256').update(bytes).digest('hex')}` };
}

async function readAll(backend: StorageBackend, key: string): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const c of await backend.get(key)) parts.push(c);
  return Buffer.concat(parts);
}

interface Fixture {
  backend: StorageBackend;
  /** Every committed key plus any staged leftovers. */
  contents(): Promise<{ keys: string[]; staged: number }>;
}

const fixtures: Record<'memory' | 'local' | 's3', () => Promise<Fixture & { cleanup(): Promise<void> }>> = {
  memory: () => {
    const backend = createMemoryBackend({ id: 'mem' });
    return Promise.resolve({ backend, contents: () => Promise.resolve({ keys: backend.storedKeys(), staged: backend.stagedCount() }), cleanup: () => Promise.resolve() });
  },
  local: async () => {
    const root = await mkdtemp(join(tmpdir(), 'as-ingest-'));
    const backend = createLocalBackend({ id: 'local', root });
    return {
      backend,
      contents: async () => {
        const keys: string[] = [];
        for await (const k of backend.list('blake3')) keys.push(k);
        const staged = await readdir(join(root, '.staging')).then((e) => e.length, () => 0);
        return { keys: keys.sort(), staged };
      },
      cleanup: () => rm(root, { recursive: true, force: true }),
    };
  },
  // Ingest writes its next block before the last one settles; the S3 writer must keep them in order.
  s3: async () => {
    const bucket = await createTestBucket('ingest');
    const backend = createS3Backend({ id: 's3', ...bucket.endpoint, bucket: bucket.bucket, keyPrefix: 'ingest', multipartThresholdBytes: 5 * MiB, multipartChunkBytes: 5 * MiB });
    return {
      backend,
      contents: async () => {
        const objects = await listObjects(bucket.client, bucket.bucket, 'ingest/');
        const staged = objects.filter((key) => key.startsWith('ingest/.staging/')).length + (await listUploads(bucket.client, bucket.bucket, 'ingest/')).length;
        const keys = objects.filter((key) => !key.startsWith('ingest/.staging/')).map((key) => key.slice('ingest/'.length));
        return { keys: keys.sort(), staged };
      },
      cleanup: () => bucket.remove(),
    };
  },
};

const MiB = 1024 * 1024;

for (const [name, make] of Object.entries(fixtures)) for (const [sourceKind, chunks] of Object.entries(sources)) {
  describe.skipIf(name === 's3' && !S3_TESTS_ENABLED)(`ingestObject [${name}, ${sourceKind} source]`, () => {
    let fx: Awaited<ReturnType<typeof make>>;
    beforeAll(async () => {
      fx = await make();
    });
    afterAll(async () => {
      await fx.cleanup();
    });
    afterEach(async () => {
      await fx.backend.settle(); // a duplicate's staged copy is removed after its commit answered
      expect((await fx.contents()).staged, 'no staged leftovers').toBe(0);
      expect(freeAlignedBlocks(), 'every shared block back in the pool').toBe(blocksBefore);
    });

    it('stores verified bytes under the BLAKE3 key and reports both digests', async () => {
      const bytes = randomBytes(13 * MiB + 17); // several blocks, past the S3 fixture's multipart threshold
      const want = addresses(bytes);
      const result = await ingestObject(chunks(bytes), { backend: fx.backend, hashPool: pool }, { expected: { size: bytes.length, ...want } });
      expect(result.digests.blake3.toString()).toBe(want.blake3);
      expect(result.digests.sha256.toString()).toBe(want.sha256);
      expect(result.digests.size).toBe(bytes.length);
      expect(result.created).toBe(true);
      expect(result.storageKey).toBe(`blake3/${want.blake3.slice(7, 9)}/${want.blake3.slice(9, 11)}/${want.blake3.slice(7)}`);
      expect((await readAll(fx.backend, result.storageKey)).equals(bytes)).toBe(true);
      const again = await ingestObject(chunks(bytes, 1000), { backend: fx.backend, hashPool: pool });
      expect(again.created).toBe(false);
      await fx.backend.delete(result.storageKey);
    });

    it('stores an empty stream', async () => {
      const result = await ingestObject(chunks(new Uint8Array(0)), { backend: fx.backend, hashPool: pool });
      expect(result.digests.blake3.toString()).toBe('blake3:af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262');
      await fx.backend.delete(result.storageKey);
    });

    it('rejects a digest or size mismatch, a too-large stream and an abort, storing nothing', async () => {
      const bytes = randomBytes(200_000);
      const want = addresses(bytes);
      const other = addresses(randomBytes(10));
      const deps = { backend: fx.backend, hashPool: pool };
      await expect(ingestObject(chunks(bytes), deps, { expected: { sha256: other.sha256 } })).rejects.toMatchObject({ code: 'digest-mismatch' });
      await expect(ingestObject(chunks(bytes), deps, { expected: { blake3: other.blake3 } })).rejects.toMatchObject({ code: 'digest-mismatch' });
      await expect(ingestObject(chunks(bytes), deps, { expected: { size: bytes.length - 1 } })).rejects.toMatchObject({ code: 'size-mismatch' });
      await expect(ingestObject(chunks(bytes), deps, { expected: { size: bytes.length + 1 } })).rejects.toMatchObject({ code: 'size-mismatch' });
      await expect(ingestObject(chunks(bytes), deps, { maxBytes: 1000 })).rejects.toMatchObject({ code: 'too-large' });
      await expect(ingestObject(chunks(bytes), deps, { expected: { sha256: want.blake3 } })).rejects.toMatchObject({ code: 'invalid-expectation' });
      const controller = new AbortController();
      async function* stalling(): AsyncGenerator<Uint8Array> {
        yield await Promise.resolve(bytes.subarray(0, 1000));
        controller.abort();
        yield bytes.subarray(1000);
      }
      await expect(ingestObject(stalling(), deps, { signal: controller.signal })).rejects.toMatchObject({ code: 'aborted' });
      async function* failing(): AsyncGenerator<Uint8Array> {
        yield await Promise.resolve(bytes.subarray(0, 1000));
        throw new Error('client went away');
      }
      await expect(ingestObject(failing(), deps)).rejects.toThrow('client went away');
      expect((await fx.contents()).keys).toEqual([]);
    });

    it('many concurrent small uploads, halted mid-stream, hold no pooled block in their feeds', async () => {
      const inputs = Array.from({ length: 48 }, (_, i) => randomBytes(1000 + i * 4000));
      const gate = createDeferred<void>();
      let waiting = 0;
      const allWaiting = createDeferred<void>();
      async function* halted(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
        yield await Promise.resolve(bytes.subarray(0, 500));
        if (++waiting === inputs.length) allWaiting.resolve();
        await gate.promise;
        yield* chunks(bytes.subarray(500), 3000);
      }
      const ingests = inputs.map((bytes) => ingestObject(halted(bytes), { backend: fx.backend, hashPool: pool }));
      await allWaiting.promise;
      expect(freeAlignedBlocks(), 'pooled blocks held mid-stream').toBe(blocksBefore);
      gate.resolve();
      const results = await Promise.all(ingests);
      for (const [i, result] of results.entries()) {
        expect(result.digests.sha256.toString()).toBe(addresses(inputs[i] ?? new Uint8Array()).sha256);
        expect((await readAll(fx.backend, result.storageKey)).equals(inputs[i] ?? new Uint8Array())).toBe(true);
        await fx.backend.delete(result.storageKey);
      }
    });
  });
}

describe('ingestObject of a small stream', () => {
  it('hands the hash workers the feed’s own shared memory: no 4 MiB slab of the hasher’s, no pooled block', async () => {
    const fake = createFakeHashPool(2);
    fake.hold = false;
    const backend = createMemoryBackend({ id: 'mem-small' });
    const bytes = randomBytes(200_000); // past what is hashed inline (64 KiB), within the feed's head
    const result = await ingestObject(streamedChunks(bytes), { backend, hashPool: fake });
    expect(result.digests.sha256.toString()).toBe(addresses(bytes).sha256);
    expect(fake.log.length).toBeGreaterThan(0);
    for (const write of fake.log) {
      expect(write.shared).toBe(true);
      expect(write.bytes.buffer.byteLength, 'the memory the workers read').toBeLessThanOrEqual(HEAD_BYTES);
    }
    expect(freeAlignedBlocks()).toBe(blocksBefore);
  });
});

describe('ingest over a damaged stored copy', () => {
  it('replaces a copy of another size with the verified bytes and reports the repair in the log, streamed and in a batch', async () => {
    const backend = createMemoryBackend({ id: 'mem' });
    const lines: string[] = [];
    const deps = { backend, hashPool: pool, log: (line: string) => lines.push(line) };
    for (const [index, how] of (['streamed', 'batch'] as const).entries()) {
      const bytes = randomBytes(100_000 + index);
      const key = contentKey(Digest.fromHex('blake3', Buffer.from(blake3(bytes)).toString('hex')));
      await backend.putObjects([{ key, bytes: bytes.subarray(0, 10) }]); // the damaged copy
      const result = how === 'streamed' ? await ingestObject(streamedChunks(bytes), deps) : (await ingestObjects([{ bytes }], deps))[0];
      expect(result).toMatchObject({ storageKey: key, created: false, repaired: true });
      expect(await backend.head(key)).toEqual({ size: bytes.byteLength });
      expect(lines.at(-1), how).toContain(`replaced a damaged copy (another size) of ${key} on backend mem`);
    }
    expect(lines).toHaveLength(2);
  });
});
