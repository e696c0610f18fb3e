// A sync behind that fails (ADR 0017): after a failed fdatasync the kernel may have dropped the bytes it
// could not write and report nothing to a later fsync, so the failure must stick: every later write and
// the commit reject with it (also when it fails while the commit waits for it), nothing is published and no staged file is left. A device error cannot be
// provoked here, so openDirect returns the real direct handle with a datasync that fails as a failing
// disk's would; its writes are real.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, expect, it, vi } from 'vitest';
import { createDeferred } from '../../core/identity/deferred.ts';
import { acquireAlignedBlock, BLOCK_BYTES, freeAlignedBlocks } from '../../data-plane/storage/aligned-blocks.ts';
import type { StorageWriter } from '../../data-plane/storage/backend.ts';
import { StorageError } from '../../data-plane/storage/errors.ts';
import type * as DirectIo from '../../data-plane/storage/local/direct-io.ts';
import { createLocalBackend } from '../../data-plane/storage/local/local-backend.ts';
import { SYNC_BEHIND_BYTES } from '../../data-plane/storage/local/local-writer.ts';
import { rejectionOf } from '../support/rejection.ts';

/** `gate`, when set, holds each datasync back until it settles (then the datasync fails). */
const datasyncCalls = vi.hoisted(() => ({ count: 0, gate: undefined as Promise<void> | undefined }));

vi.mock('../../data-plane/storage/local/direct-io.ts', async (importOriginal) => {
  const actual = await importOriginal<typeof DirectIo>();
  return {
    ...actual,
    openDirect: async (path: string): Promise<FileHandle | undefined> => {
      const handle = await actual.openDirect(path);
      if (handle === undefined) return undefined;
      return new Proxy(handle, {
        get(target, name) {
          if (name === 'datasync') {
            return async () => {
              datasyncCalls.count++;
              await datasyncCalls.gate;
              throw Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO', errno: -5 });
            };
          }
          const value: unknown = Reflect.get(target, name, target);
          return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
        },
      });
    },
  };
});

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'artifact-store-sync-failing-'));
});
afterAll(() => rm(root, { recursive: true, force: true }));

beforeEach(() => {
  datasyncCalls.count = 0;
  datasyncCalls.gate = undefined;
});

/**
 * Runs `use` with a writer of a new backend and a pool block (filled with `fill`), then checks that
 * nothing was published under `key`, no staged file is left and every block is back in the pool.
 */
async function withFailingWriter(key: string, fill: number, use: (writer: StorageWriter, block: Uint8Array) => Promise<void>): Promise<void> {
  const free = freeAlignedBlocks();
  const block = acquireAlignedBlock();
  if (block === undefined) throw new Error('no free block');
  const backend = createLocalBackend({ id: 'failing-sync', root });
  const writer = await backend.createWriter();
  try {
    block.bytes.fill(fill);
    await use(writer, block.bytes);
  } finally {
    await writer.cancel();
    block.release();
  }
  expect(await backend.head(key)).toBeUndefined();
  expect(await readdir(join(root, '.staging')).catch(() => [])).toEqual([]);
  expect(freeAlignedBlocks()).toBe(free);
}

it('a failed sync behind sticks: later writes and the commit reject, nothing is published, no staged file is left', async () => {
  await withFailingWriter('failing/object', 7, async (writer, block) => {
    let failure: StorageError | undefined;
    // Writes in place until the failure shows (the sync starts at SYNC_BEHIND_BYTES and fails at once).
    for (let written = 0; written < 2 * SYNC_BEHIND_BYTES && failure === undefined; written += BLOCK_BYTES) {
      try {
        await writer.write(block);
      } catch (error) {
        if (!(error instanceof StorageError)) throw error;
        failure = error;
      }
    }
    expect(datasyncCalls.count).toBe(1);
    expect(failure?.code).toBe('unavailable');
    expect(failure?.message).toContain('sync staged bytes');
    expect(await rejectionOf(writer.write(block), StorageError)).toBe(failure);
    expect(await rejectionOf(writer.commit('failing/object'), StorageError)).toBe(failure);
  });
}, 60_000);

it('a sync behind that fails while the commit waits for it fails the commit: nothing is published', async () => {
  const held = createDeferred<void>();
  datasyncCalls.gate = held.promise;
  await withFailingWriter('failing/late', 9, async (writer, block) => {
    // The sync starts with the block that reaches 64 MiB and is held until the commit has begun.
    for (let written = 0; written <= SYNC_BEHIND_BYTES; written += BLOCK_BYTES) await writer.write(block);
    expect(datasyncCalls.count).toBe(1);
    const committed = rejectionOf(writer.commit('failing/late'), StorageError);
    await new Promise((resolve) => setTimeout(resolve, 50));
    held.resolve();
    const error = await committed;
    expect(error.code).toBe('unavailable');
    expect(error.message).toContain('sync staged bytes');
  });
}, 60_000);
