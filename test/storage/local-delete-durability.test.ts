// A delete on the local backend is durable when it resolves: after a power loss (the crash image of a
// real ext4 filesystem, taken right after the delete), the object stays deleted. Before, the unlink sat
// in the page cache, so a deleted object (an upload's parts after its completion, say) could come back
// with nothing left to delete it again.
import { execFile } from 'node:child_process';
import { mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { createLocalBackend } from '../../data-plane/storage/local/local-backend.ts';
import { createExt4Disk, mountExt4Image } from '../support/ext4-disk.ts';
import { describeMounting, EXT4_TOOLS } from '../support/mounts.ts';

const run = promisify(execFile);

describeMounting(EXT4_TOOLS)('local backend deletes on a disk that loses power', () => {
  it('keeps a deleted object deleted, and the others stored', async () => {
    const disk = await createExt4Disk();
    try {
      const root = join(disk.dir, 'objects');
      await mkdir(root);
      const backend = createLocalBackend({ id: 'local', root });
      const keys = ['uploads/u1/0', 'uploads/u1/100', 'blake3/ab/cd/kept'];
      for (const key of keys) await backend.putObjects([{ key, bytes: Buffer.alloc(100, 1) }]);
      await run('sync'); // every object on the disk
      await backend.delete('uploads/u1/0');
      await backend.delete('uploads/u1/100'); // its directory is pruned too
      const image = await disk.crashImage(); // the power goes out now
      const after = await mountExt4Image(image);
      try {
        const copy = join(after.dir, 'objects');
        const uploads = await readdir(join(copy, 'uploads')).catch(() => []);
        expect(uploads, 'the deleted parts and their pruned directory').toEqual([]);
        expect((await stat(join(copy, 'blake3/ab/cd/kept'))).size).toBe(100);
      } finally {
        await after.close();
      }
    } finally {
      await disk.close();
    }
  }, 120_000);
});
