// The local writer's direct I/O (data-plane/storage/local/direct-io.ts): full 2 MiB blocks (pool blocks
// ingest filled, written in place, or blocks of the writer's own) go to the file with O_DIRECT, the last partial block is padded and the file cut back; small objects and an exhausted
// block pool fall back to buffered writes (a filesystem refusing O_DIRECT: local-direct-io-refused.test.ts).
// Every path must store exactly the bytes written, whatever the chunking.
import { existsSync, statfsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { acquireAlignedBlock, BLOCK_BYTES, freeAlignedBlocks } from '../../data-plane/storage/aligned-blocks.ts';
import { createLocalBackend } from '../../data-plane/storage/local/local-backend.ts';
import { openDirect } from '../../data-plane/storage/local/direct-io.ts';
import { describeRoot } from './direct-io-cases.ts';

describeRoot('the temp directory', tmpdir());
// tmpfs takes O_DIRECT since Linux 6.6 and refuses it before; either way the bytes must be exact.
describeRoot('tmpfs (/dev/shm)', existsSync('/dev/shm') ? '/dev/shm' : undefined);

// ext4, xfs, btrfs: filesystems that take O_DIRECT.
const DIRECT_FILESYSTEMS = new Set([0xef53, 0x58465342, 0x9123683e]);

/** Whether `openDirect` succeeds on a new file in `parent`. */
async function directOpens(parent: string): Promise<boolean> {
  const dir = await mkdtemp(join(parent, 'artifact-store-direct-open-'));
  try {
    const path = join(dir, 'probe');
    await writeFile(path, '');
    const handle = await openDirect(path);
    await handle?.close();
    return handle !== undefined;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// Skipped (not passed) when the temp directory is on another filesystem: only the fallbacks ran above.
it.skipIf(!DIRECT_FILESYSTEMS.has(statfsSync(tmpdir()).type))('opens direct handles on a disk filesystem, so the tests above write directly', async () => {
  expect(await directOpens(tmpdir())).toBe(true);
});

// Where O_DIRECT works, a full pool block is written as it is: the writer takes no block of its own to copy into.
it.skipIf(!DIRECT_FILESYSTEMS.has(statfsSync(tmpdir()).type))('writes pool blocks in place, without a block of its own', async () => {
  const root = await mkdtemp(join(tmpdir(), 'artifact-store-in-place-'));
  const block = acquireAlignedBlock();
  try {
    if (block === undefined) throw new Error('no free block');
    const backend = createLocalBackend({ id: 'in-place', root });
    const writer = await backend.createWriter();
    const free = freeAlignedBlocks();
    const expected: Buffer[] = [];
    try {
      for (let round = 0; round < 3; round++) {
        block.bytes.fill(round + 1);
        expected.push(Buffer.from(block.bytes));
        await writer.write(block.bytes);
        expect(freeAlignedBlocks(), 'blocks held by the writer').toBe(free);
      }
      await writer.commit('in-place/object');
    } finally {
      await writer.cancel();
    }
    const stored = await readFile(join(root, 'in-place/object'));
    expect(stored.byteLength).toBe(3 * BLOCK_BYTES);
    expect(stored.equals(Buffer.concat(expected))).toBe(true);
  } finally {
    block?.release();
    await rm(root, { recursive: true, force: true });
  }
});
