// Cases for the local writer's direct I/O, run by local-direct-io.test.ts on real filesystems and by
// local-direct-io-refused.test.ts with O_DIRECT refused.
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StorageBackend } from '../../data-plane/storage/backend.ts';
import { acquireAlignedBlock, BLOCK_BYTES, DIRECT_ALIGNMENT, freeAlignedBlocks, HEAD_BYTES } from '../../data-plane/storage/aligned-blocks.ts';
import { createLocalBackend } from '../../data-plane/storage/local/local-backend.ts';

const MiB = 1024 * 1024;
const SIZES = [0, 1, DIRECT_ALIGNMENT - 1, DIRECT_ALIGNMENT, HEAD_BYTES - 1, HEAD_BYTES, HEAD_BYTES + 1, BLOCK_BYTES - 1, BLOCK_BYTES, BLOCK_BYTES + 1, 2 * BLOCK_BYTES + DIRECT_ALIGNMENT + 1, 7 * MiB + 3];
const CHUNKS = [1, 65_536, 1_000_003, 4096, 3 * MiB, 17];

function bytesOf(size: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  let x = seed * 2_654_435_761 + 1;
  for (let i = 0; i < size; i++) {
    x = (x * 1_103_515_245 + 12_345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

async function store(backend: StorageBackend, key: string, data: Buffer): Promise<void> {
  const writer = await backend.createWriter();
  try {
    for (let offset = 0, i = 0; offset < data.byteLength; i++) {
      const size = CHUNKS[i % CHUNKS.length] ?? 1;
      await writer.write(data.subarray(offset, offset + size));
      offset += size;
    }
    await writer.commit(key);
  } finally {
    await writer.cancel();
  }
}

export function describeRoot(name: string, parent: string | undefined): void {
  describe.skipIf(parent === undefined)(`local writer on ${name}`, () => {
    let root: string;
    let backend: StorageBackend;
    beforeAll(async () => {
      root = await mkdtemp(join(parent ?? tmpdir(), 'artifact-store-direct-'));
      backend = createLocalBackend({ id: 'direct-test', root });
    });
    afterAll(() => rm(root, { recursive: true, force: true }));

    it('stores exactly the bytes written for sizes around the block and alignment boundaries', async () => {
      for (const [index, size] of SIZES.entries()) {
        const data = bytesOf(size, index + 1);
        const key = `direct/${name.replace(/[^a-z]/g, '')}/object-${index}`;
        await store(backend, key, data);
        const stored = await readFile(join(root, key));
        expect(stored.byteLength, `size ${size}`).toBe(size);
        expect(sha256(stored), `size ${size}`).toBe(sha256(data));
        expect((await stat(join(root, key))).size).toBe(size);
      }
    });

    it('stores pool blocks handed over without waiting (as ingest does), mixed with copied chunks, and frees them', async () => {
      const free = freeAlignedBlocks();
      const blocks = [acquireAlignedBlock(), acquireAlignedBlock(), acquireAlignedBlock()];
      // A block, a block, a partial aligned block, a block, then a small unaligned chunk: writes in place
      // while the file ends aligned, copies after that.
      const pieces = [BLOCK_BYTES, BLOCK_BYTES, 3 * DIRECT_ALIGNMENT, BLOCK_BYTES, 100, BLOCK_BYTES, BLOCK_BYTES - 100, BLOCK_BYTES];
      const data = bytesOf(pieces.reduce((a, b) => a + b, 0), 77);
      const writer = await backend.createWriter();
      try {
        const inFlight: Promise<void>[] = [];
        let offset = 0;
        for (const [i, size] of pieces.entries()) {
          const block = blocks[i % blocks.length];
          if (block === undefined) throw new Error('pool exhausted in the test');
          // The block is refilled only after the write that read it has resolved.
          if (inFlight.length === blocks.length) await inFlight.shift();
          block.bytes.set(data.subarray(offset, offset + size));
          inFlight.push(writer.write(block.bytes.subarray(0, size)));
          offset += size;
        }
        await Promise.all(inFlight);
        // Resolved writes no longer need the blocks: scribbling over them must not change what is stored.
        for (const block of blocks) block?.bytes.fill(0xee);
        expect(offset).toBe(data.byteLength);
        await writer.commit('direct/in-place/object');
      } finally {
        await writer.cancel();
        for (const block of blocks) block?.release();
      }
      expect(sha256(await readFile(join(root, 'direct/in-place/object')))).toBe(sha256(data));
      expect(freeAlignedBlocks()).toBe(free);
    });

    it('takes no pooled block for objects within HEAD_BYTES, however many writers are open', async () => {
      const free = freeAlignedBlocks();
      const inputs = Array.from({ length: 48 }, (_, i) => bytesOf(i === 0 ? HEAD_BYTES : 1 + i * 5000, 300 + i));
      const writers = await Promise.all(inputs.map(() => backend.createWriter()));
      try {
        for (const [i, data] of inputs.entries()) {
          for (let offset = 0, n = 0; offset < data.byteLength; n++) {
            const size = CHUNKS[n % CHUNKS.length] ?? 1;
            await writers[i]?.write(data.subarray(offset, offset + size));
            offset += size;
          }
        }
        expect(freeAlignedBlocks(), 'pooled blocks held by open writers of small objects').toBe(free);
        await Promise.all(writers.map((writer, i) => writer.commit(`direct/small/object-${i}`)));
      } finally {
        await Promise.all(writers.map((writer) => writer.cancel()));
      }
      for (const [i, data] of inputs.entries()) expect(sha256(await readFile(join(root, `direct/small/object-${i}`)))).toBe(sha256(data));
      expect(freeAlignedBlocks()).toBe(free);
    });

    it('takes no block of its own for an object under one block handed over as one partial pooled block', async () => {
      // As ingest's block feed hands an object between HEAD_BYTES and BLOCK_BYTES: its one, partial block.
      const sizes = [HEAD_BYTES + 1, 300_000, 1024 * 1024, 1024 * 1024 + 3, BLOCK_BYTES - DIRECT_ALIGNMENT, BLOCK_BYTES - 1];
      const held = sizes.map(() => acquireAlignedBlock());
      const free = freeAlignedBlocks();
      const inputs = sizes.map((size, i) => bytesOf(size, 600 + i));
      const writers = await Promise.all(inputs.map(() => backend.createWriter()));
      try {
        for (const [i, data] of inputs.entries()) {
          const block = held[i];
          if (block === undefined) throw new Error('pool exhausted in the test');
          block.bytes.set(data);
          await writers[i]?.write(block.bytes.subarray(0, data.byteLength));
          block.bytes.fill(0xee); // the write resolved: the feed may reuse its block
        }
        expect(freeAlignedBlocks(), 'pooled blocks held by the open writers').toBe(free);
        await Promise.all(writers.map((writer, i) => writer.commit(`direct/partial/object-${i}`)));
      } finally {
        await Promise.all(writers.map((writer) => writer.cancel()));
        for (const block of held) block?.release();
      }
      for (const [i, data] of inputs.entries()) expect(sha256(await readFile(join(root, `direct/partial/object-${i}`))), `size ${sizes[i]}`).toBe(sha256(data));
    });

    it('writes a pooled block that follows bytes gathered in the head after them, not in place before them', async () => {
      const block = acquireAlignedBlock();
      if (block === undefined) throw new Error('pool exhausted in the test');
      const data = bytesOf(100 + BLOCK_BYTES + 7, 501);
      const writer = await backend.createWriter();
      try {
        await writer.write(data.subarray(0, 100));
        block.bytes.set(data.subarray(100, 100 + BLOCK_BYTES));
        await writer.write(block.bytes); // aligned and whole: written in place, were the head empty
        block.bytes.fill(0xee);
        await writer.write(data.subarray(100 + BLOCK_BYTES));
        await writer.commit('direct/head-then-block/object');
      } finally {
        await writer.cancel();
        block.release();
      }
      expect(sha256(await readFile(join(root, 'direct/head-then-block/object')))).toBe(sha256(data));
    });

    it('writes the head to the file when it outgrows its limit with the pool empty', async () => {
      const taken: NonNullable<ReturnType<typeof acquireAlignedBlock>>[] = [];
      for (let block = acquireAlignedBlock(); block !== undefined; block = acquireAlignedBlock()) taken.push(block);
      const data = bytesOf(HEAD_BYTES + BLOCK_BYTES + 3, 502);
      try {
        await store(backend, 'direct/head-no-block/object', data);
      } finally {
        for (const block of taken) block.release();
      }
      expect(sha256(await readFile(join(root, 'direct/head-no-block/object')))).toBe(sha256(data));
    });

    it('keeps objects intact when more writers run at once than there are blocks', async () => {
      const inputs = Array.from({ length: 24 }, (_, i) => bytesOf(BLOCK_BYTES + 12_345 * (i + 1), 100 + i));
      await Promise.all(inputs.map((data, i) => store(backend, `direct/many/object-${i}`, data)));
      for (const [i, data] of inputs.entries()) expect(sha256(await readFile(join(root, `direct/many/object-${i}`)))).toBe(sha256(data));
    });
  });
}
