// The local writer syncs as it goes (data-plane/storage/local/local-writer.ts): once `syncAheadBytes` of
// direct writes have landed it starts an fdatasync of the staged file in the background, so the commit's
// own sync has less to flush. The bytes stored must not change, and a failed early sync must stop the
// commit (the kernel reports a write-back error once, to that sync). A device error cannot be provoked
// here, so the direct handle is the real one with its `datasync` counted, or made to fail as EIO would.
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, expect, it, vi } from 'vitest';
import { acquireAlignedBlock, BLOCK_BYTES, freeAlignedBlocks } from '../../data-plane/storage/aligned-blocks.ts';
import { StorageError } from '../../data-plane/storage/errors.ts';
import type * as DirectIo from '../../data-plane/storage/local/direct-io.ts';
import { createLocalBackend } from '../../data-plane/storage/local/local-backend.ts';
import { rejectionOf } from '../support/rejection.ts';

const syncs = { count: 0, fail: false, opened: 0 };

vi.mock('../../data-plane/storage/local/direct-io.ts', async (importOriginal) => {
  const actual = await importOriginal<typeof DirectIo>();
  return {
    ...actual,
    openDirect: async (path: string) => {
      const handle = await actual.openDirect(path);
      if (handle === undefined) return undefined;
      syncs.opened += 1;
      const datasync = handle.datasync.bind(handle);
      handle.datasync = async () => {
        syncs.count += 1;
        if (syncs.fail) throw Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO', errno: -5 });
        await datasync();
      };
      return handle;
    },
  };
});

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'artifact-store-sync-ahead-'));
});
afterAll(() => rm(root, { recursive: true, force: true }));
beforeEach(() => {
  Object.assign(syncs, { count: 0, fail: false, opened: 0 });
});

/** `blocks` pool blocks of distinct bytes, written in place as ingest hands them over, plus a tail. */
function blocksOf(blocks: number): { pieces: Uint8Array[]; release: () => void; whole: Buffer } {
  const taken = Array.from({ length: blocks }, () => {
    const block = acquireAlignedBlock();
    if (block === undefined) throw new Error('no free block');
    return block;
  });
  taken.forEach((block, i) => block.bytes.fill(i + 1));
  const pieces: Uint8Array[] = [...taken.map((block) => block.bytes), Buffer.from('tail bytes')];
  return { pieces, whole: Buffer.concat(pieces), release: () => taken.forEach((block) => block.release()) };
}

it('syncs the staged file in the background every syncAheadBytes, and stores exactly the bytes written', async (context) => {
  const backend = createLocalBackend({ id: 'sync-ahead', root, syncAheadBytes: 2 * BLOCK_BYTES });
  const { pieces, whole, release } = blocksOf(7);
  const writer = await backend.createWriter();
  try {
    for (const piece of pieces) await writer.write(piece);
    await writer.commit('sync/ahead');
  } finally {
    await writer.cancel();
    release();
  }
  if (syncs.opened === 0) context.skip(); // no O_DIRECT on this temp directory: nothing is synced early
  // 7 blocks landed: a sync after the 2nd (or later, if one is still running), at most one per 2 blocks.
  expect(syncs.count).toBeGreaterThanOrEqual(1);
  expect(syncs.count).toBeLessThanOrEqual(3);
  const stored = await readFile(join(root, 'sync/ahead'));
  expect(createHash('sha256').update(stored).digest('hex')).toBe(createHash('sha256').update(whole).digest('hex'));
});

it('syncs nothing early with syncAheadBytes 0', async (context) => {
  const backend = createLocalBackend({ id: 'sync-at-commit', root, syncAheadBytes: 0 });
  const { pieces, release } = blocksOf(4);
  const writer = await backend.createWriter();
  try {
    for (const piece of pieces) await writer.write(piece);
    await writer.commit('sync/at-commit');
  } finally {
    await writer.cancel();
    release();
  }
  if (syncs.opened === 0) context.skip();
  expect(syncs.count).toBe(0);
});

it('a failed background sync sticks: the commit publishes nothing and no staged file is left', async (context) => {
  syncs.fail = true;
  const free = freeAlignedBlocks();
  const backend = createLocalBackend({ id: 'sync-failing', root, syncAheadBytes: BLOCK_BYTES });
  const { pieces, release } = blocksOf(3);
  const writer = await backend.createWriter();
  try {
    // The failure surfaces at the first operation after it: a later write, or the commit.
    let written = 0;
    const writes = (async () => {
      for (const piece of pieces) {
        await writer.write(piece);
        written += 1;
      }
    })();
    await writes.catch(() => undefined);
    if (syncs.opened === 0) context.skip();
    expect(syncs.count).toBeGreaterThanOrEqual(1);
    for (const failed of [...(written < pieces.length ? [writes] : []), writer.commit('sync/failing'), writer.write(new Uint8Array(10))]) {
      const error = await rejectionOf(failed, StorageError);
      expect(error.code).toBe('unavailable');
      expect(error.message).toContain('sync staged bytes');
    }
  } finally {
    await writer.cancel();
    release();
  }
  expect(await backend.head('sync/failing')).toBeUndefined();
  expect(await readdir(join(root, '.staging')).catch(() => [])).toEqual([]);
  expect(freeAlignedBlocks()).toBe(free);
});
