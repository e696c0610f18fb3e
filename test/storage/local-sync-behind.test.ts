// Sync behind (ADR 0017): a local writer syncs a large object's staged bytes every SYNC_BEHIND_BYTES
// while the stream goes on, one sync at a time in the process, on every write path (pool blocks written in place, the
// writer's own blocks, buffered writes when the pool has no block), and never for a small object. The
// stored bytes stay exact. A failing sync: local-sync-behind-failing.test.ts.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acquireAlignedBlock, BLOCK_BYTES, type AlignedBlock } from '../../data-plane/storage/aligned-blocks.ts';
import type { StorageBackend } from '../../data-plane/storage/backend.ts';
import { createLocalBackend } from '../../data-plane/storage/local/local-backend.ts';
import { SYNC_BEHIND_BYTES } from '../../data-plane/storage/local/local-writer.ts';
import { handlePrototype } from '../support/file-handle-prototype.ts';

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** `size` bytes, each MiB different, so a misplaced block shows in the digest. */
function content(size: number): Buffer {
  const out = Buffer.alloc(size);
  for (let at = 0; at + 4 <= size; at += 4) out.writeUInt32LE((at * 2_654_435_761) >>> 0, at);
  return out;
}

function describeOn(label: string, parent: string | undefined): void {
  describe.runIf(parent !== undefined)(`sync behind on ${label}`, () => {
    let root: string;
    let syncs: number[];
    let backend: StorageBackend;
    beforeAll(async () => {
      root = await mkdtemp(join(parent ?? tmpdir(), 'artifact-store-sync-behind-'));
    });
    afterAll(() => rm(root, { recursive: true, force: true }));

    function newBackend(): StorageBackend {
      syncs = [];
      backend = createLocalBackend({ id: 'sync', root, onSyncBehind: (seconds) => syncs.push(seconds) });
      return backend;
    }

    async function stored(key: string): Promise<string> {
      return sha256(await readFile(join(root, key)));
    }

    it('syncs a large object written as ingest writes it (pool blocks in place), and stores it exactly', async () => {
      const size = 3 * SYNC_BEHIND_BYTES + BLOCK_BYTES / 2;
      const data = content(size);
      const blocks = [acquireAlignedBlock(), acquireAlignedBlock()].filter((block): block is AlignedBlock => block !== undefined);
      expect(blocks).toHaveLength(2);
      const writer = await newBackend().createWriter();
      try {
        const landing: Promise<void>[] = [];
        for (let at = 0, turn = 0; at < size; at += BLOCK_BYTES, turn++) {
          const block = blocks[turn % 2] as AlignedBlock;
          if (landing.length === 2) await landing.shift(); // this block's previous write has landed
          const part = data.subarray(at, Math.min(size, at + BLOCK_BYTES));
          block.bytes.set(part);
          landing.push(writer.write(block.bytes.subarray(0, part.byteLength)));
        }
        await Promise.all(landing);
        await writer.commit('sync/in-place');
      } finally {
        await writer.cancel();
        for (const block of blocks) block.release();
      }
      expect(syncs.length).toBeGreaterThanOrEqual(1);
      expect(syncs.length).toBeLessThanOrEqual(3);
      expect(await stored('sync/in-place')).toBe(sha256(data));
    }, 60_000);

    it('syncs a large object written in odd chunks (copied into the writer’s blocks)', async () => {
      const size = 2 * SYNC_BEHIND_BYTES + 12_345;
      const data = content(size);
      const writer = await newBackend().createWriter();
      try {
        for (let at = 0; at < size; at += 1_000_003) await writer.write(data.subarray(at, at + 1_000_003));
        await writer.commit('sync/copied');
      } finally {
        await writer.cancel();
      }
      expect(syncs.length).toBeGreaterThanOrEqual(1);
      expect(syncs.length).toBeLessThanOrEqual(2);
      expect(await stored('sync/copied')).toBe(sha256(data));
    }, 60_000);

    it('syncs buffered writes too (no block free in the pool)', async () => {
      const size = SYNC_BEHIND_BYTES + 3 * BLOCK_BYTES;
      const data = content(size);
      const taken: AlignedBlock[] = [];
      for (let block = acquireAlignedBlock(); block !== undefined; block = acquireAlignedBlock()) taken.push(block);
      const writer = await newBackend().createWriter();
      try {
        for (let at = 0; at < size; at += 4 * 1024 * 1024) await writer.write(data.subarray(at, at + 4 * 1024 * 1024));
        await writer.commit('sync/buffered');
      } finally {
        await writer.cancel();
        for (const block of taken) block.release();
      }
      expect(syncs).toHaveLength(1);
      expect(await stored('sync/buffered')).toBe(sha256(data));
    }, 60_000);

    it('never syncs behind an object under SYNC_BEHIND_BYTES (its commit syncs it)', async () => {
      const data = content(SYNC_BEHIND_BYTES - 1);
      const writer = await newBackend().createWriter();
      try {
        for (let at = 0; at < data.byteLength; at += BLOCK_BYTES) await writer.write(data.subarray(at, at + BLOCK_BYTES));
        await writer.commit('sync/small');
      } finally {
        await writer.cancel();
      }
      expect(syncs).toEqual([]);
      expect(await stored('sync/small')).toBe(sha256(data));
    }, 60_000);

    it('a cancelled writer waits for its sync before closing and leaves nothing', async () => {
      const data = content(SYNC_BEHIND_BYTES + BLOCK_BYTES);
      const writer = await newBackend().createWriter();
      try {
        for (let at = 0; at < data.byteLength; at += BLOCK_BYTES) await writer.write(data.subarray(at, at + BLOCK_BYTES));
      } finally {
        await writer.cancel();
      }
      // The sync started at 64 MiB; cancel resolves only after it settled (and was observed).
      expect(syncs).toHaveLength(1);
      expect(await readdir(join(root, '.staging')).catch(() => [])).toEqual([]);
    }, 60_000);

    it('runs one sync behind at a time in the process, however many large objects are written at once', async () => {
      const handleClass = await handlePrototype(root);
      // eslint-disable-next-line @typescript-eslint/unbound-method -- called below with each handle as `this`
      const real = handleClass.datasync;
      let running = 0;
      let most = 0;
      let calls = 0;
      // Counts the real syncs in flight (each still runs).
      handleClass.datasync = async function (this: FileHandle) {
        calls++;
        most = Math.max(most, ++running);
        try {
          return await real.call(this);
        } finally {
          running--;
        }
      };
      try {
        const data = content(2 * SYNC_BEHIND_BYTES + BLOCK_BYTES);
        const writers = await Promise.all([0, 1, 2, 3].map(() => newBackend().createWriter()));
        try {
          await Promise.all(
            writers.map(async (writer, index) => {
              for (let at = 0; at < data.byteLength; at += BLOCK_BYTES) await writer.write(data.subarray(at, at + BLOCK_BYTES));
              await writer.commit(`sync/concurrent-${index}`);
            }),
          );
        } finally {
          await Promise.all(writers.map((writer) => writer.cancel()));
        }
        expect(calls).toBeGreaterThanOrEqual(1);
        expect(most).toBe(1);
        for (let index = 0; index < 4; index++) expect(await stored(`sync/concurrent-${index}`)).toBe(sha256(data));
      } finally {
        handleClass.datasync = real;
      }
    }, 120_000);
  });
}

describeOn('the temp directory', tmpdir());
// tmpfs takes O_DIRECT since Linux 6.6 and refuses it before: the buffered path's syncs.
describeOn('tmpfs (/dev/shm)', existsSync('/dev/shm') ? '/dev/shm' : undefined);
