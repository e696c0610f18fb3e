// Writes in place (ADR 0013, 0018): the local writer writes pool blocks with O_DIRECT as they are, at most
// MAX_WRITES_IN_PLACE of them in flight per writer however many blocks the caller hands it at once (each
// holds one of libuv's four pool threads), and none starts once one has failed. The real writes are
// counted on FileHandle's prototype, each held back a moment so that all the caller's blocks are handed
// over before the first lands.
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acquireAlignedBlock, freeAlignedBlocks, type AlignedBlock } from '../../data-plane/storage/aligned-blocks.ts';
import { StorageError } from '../../data-plane/storage/errors.ts';
import { openDirect } from '../../data-plane/storage/local/direct-io.ts';
import { createLocalBackend } from '../../data-plane/storage/local/local-backend.ts';
import { MAX_WRITES_IN_PLACE } from '../../data-plane/storage/local/local-writer.ts';
import { handlePrototype } from '../support/file-handle-prototype.ts';

const BLOCKS = 12;
const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

let root: string;
let direct = false;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'artifact-store-in-place-'));
  await writeFile(join(root, '.direct-probe'), '');
  const handle = await openDirect(join(root, '.direct-probe'));
  direct = handle !== undefined;
  await handle?.close();
  await rm(join(root, '.direct-probe'));
});
afterAll(() => rm(root, { recursive: true, force: true }));

type WriteArgs = Parameters<FileHandle['write']>;

/**
 * Runs `body` with every FileHandle write counted (and each held back 20 ms before it starts); `fail`
 * makes a write reject with EIO instead of writing. Returns the most writes in flight at once and the
 * number started.
 */
async function countingWrites(body: () => Promise<void>, fail: (call: number) => boolean = () => false): Promise<{ most: number; calls: number }> {
  const prototype = await handlePrototype(root);
  // eslint-disable-next-line @typescript-eslint/unbound-method -- called below with each handle as `this`
  const real = prototype.write;
  let running = 0;
  let most = 0;
  let calls = 0;
  prototype.write = async function (this: FileHandle, ...args: WriteArgs) {
    const call = ++calls;
    most = Math.max(most, ++running);
    try {
      await new Promise((resolve) => setTimeout(resolve, 20));
      if (fail(call)) throw Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO', errno: -5, syscall: 'write' });
      return await (real as (...a: WriteArgs) => ReturnType<FileHandle['write']>).apply(this, args);
    } finally {
      running--;
    }
  } as FileHandle['write'];
  try {
    await body();
  } finally {
    prototype.write = real;
  }
  return { most, calls };
}

/** `BLOCKS` pooled blocks, each filled with bytes of its own. */
function filledBlocks(): AlignedBlock[] {
  const blocks = Array.from({ length: BLOCKS }, () => acquireAlignedBlock()).filter((block): block is AlignedBlock => block !== undefined);
  expect(blocks).toHaveLength(BLOCKS);
  blocks.forEach((block, i) => block.bytes.fill(i + 1));
  return blocks;
}

describe('local writer, writes in place', () => {
  it(`keeps at most ${MAX_WRITES_IN_PLACE} in flight however many blocks it is handed, and stores them in order`, async ({ skip }) => {
    if (!direct) skip('O_DIRECT is refused in the temp directory');
    const free = freeAlignedBlocks();
    const blocks = filledBlocks();
    const backend = createLocalBackend({ id: 'in-place', root });
    const { most, calls } = await countingWrites(async () => {
      const writer = await backend.createWriter();
      try {
        // Every block handed over before any lands, as the block feed does behind a stalled disk.
        await Promise.all(blocks.map((block) => writer.write(block.bytes)));
        await writer.commit('in-place/ordered');
      } finally {
        await writer.cancel();
      }
    });
    expect(calls, 'one write per block').toBe(BLOCKS);
    expect(most).toBe(MAX_WRITES_IN_PLACE);
    expect(sha256(await readFile(join(root, 'in-place/ordered')))).toBe(sha256(Buffer.concat(blocks.map((block) => block.bytes))));
    for (const block of blocks) block.release();
    expect(freeAlignedBlocks()).toBe(free);
  });

  it('starts no further write once one has failed: the commit rejects and nothing is published', async ({ skip }) => {
    if (!direct) skip('O_DIRECT is refused in the temp directory');
    const blocks = filledBlocks();
    const backend = createLocalBackend({ id: 'in-place', root });
    let failure: unknown;
    const { calls } = await countingWrites(
      async () => {
        const writer = await backend.createWriter();
        try {
          const writes = blocks.map((block) => writer.write(block.bytes));
          await Promise.allSettled(writes);
          failure = await writer.commit('in-place/failed').catch((error: unknown) => error);
        } finally {
          await writer.cancel();
        }
      },
      (call) => call === 1,
    );
    expect(failure).toBeInstanceOf(StorageError);
    expect((failure as StorageError).code).toBe('unavailable');
    expect(calls, 'only the writes already in flight when the first failed').toBe(MAX_WRITES_IN_PLACE);
    await expect(readFile(join(root, 'in-place/failed'))).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await readdir(join(root, '.staging')).catch(() => [])).toEqual([]);
    for (const block of blocks) block.release();
  });
});
