// A direct write that fails while the writer goes on (writes in place are not awaited by the next
// operation): the failure must reach the write that started it, stick for every later call, keep the
// commit from publishing anything, and leave no staged file. A device error cannot be provoked here, so
// openDirect returns a handle whose writes fail as a full disk's would.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { acquireAlignedBlock, freeAlignedBlocks } from '../../data-plane/storage/aligned-blocks.ts';
import { StorageError } from '../../data-plane/storage/errors.ts';
import type * as DirectIo from '../../data-plane/storage/local/direct-io.ts';
import { createLocalBackend } from '../../data-plane/storage/local/local-backend.ts';
import { rejectionOf } from '../support/rejection.ts';

vi.mock('../../data-plane/storage/local/direct-io.ts', async (importOriginal) => {
  const actual = await importOriginal<typeof DirectIo>();
  const full = (): Promise<never> => Promise.reject(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28 }));
  const handle = { write: full, truncate: () => Promise.resolve(), close: () => Promise.resolve() };
  return { ...actual, openDirect: () => Promise.resolve(handle) };
});

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'artifact-store-direct-failing-'));
});
afterAll(() => rm(root, { recursive: true, force: true }));

it('a failed write in place rejects its write, sticks, publishes nothing and leaves no staged file', async () => {
  const free = freeAlignedBlocks();
  const blocks = [acquireAlignedBlock(), acquireAlignedBlock()];
  const backend = createLocalBackend({ id: 'failing', root });
  const writer = await backend.createWriter();
  try {
    const [first, second] = blocks.map((block) => {
      if (block === undefined) throw new Error('no free block');
      return writer.write(block.bytes);
    });
    const error = await rejectionOf(first as Promise<void>, StorageError);
    expect(error.code).toBe('resource-exhausted');
    await rejectionOf(second as Promise<void>, StorageError);
    expect(await rejectionOf(writer.write(new Uint8Array(10)), StorageError)).toBe(error);
    expect(await rejectionOf(writer.commit('failing/object'), StorageError)).toBe(error);
  } finally {
    await writer.cancel();
    for (const block of blocks) block?.release();
  }
  expect(await backend.head('failing/object')).toBeUndefined();
  expect(await readdir(join(root, '.staging')).catch(() => [])).toEqual([]);
  expect(freeAlignedBlocks()).toBe(free);
});
