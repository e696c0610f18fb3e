/**
 * A real case-insensitive filesystem for tests: a 32 MiB exFAT image, attached to a loop device and
 * mounted with exFAT's FUSE driver (Debian's exfat-fuse and exfatprogs; the kernel here has no
 * case-folding ext4 or vfat). Needs root, /dev/fuse and a free loop device.
 *
 * Gated by `./mounts.ts` (root and the tools below; `ARTIFACTSTORE_TEST_MOUNTS=required` in CI).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describeMounting } from './mounts.ts';

const run = promisify(execFile);

const TOOLS = ['/usr/sbin/mkfs.exfat', '/usr/sbin/mount.exfat-fuse', '/usr/sbin/losetup'];

/** `describe` when a case-insensitive filesystem can be mounted here, `describe.skip` otherwise. */
export const describeCaseInsensitive = describeMounting(TOOLS);

/** A mounted case-insensitive directory. */
export interface CaseInsensitiveDir {
  readonly dir: string;
  close(): Promise<void>;
}

/** Mounts a new exFAT filesystem; `close` unmounts it and frees the loop device and image. */
export async function mountCaseInsensitiveDir(): Promise<CaseInsensitiveDir> {
  const missing = TOOLS.filter((tool) => !existsSync(tool));
  if (missing.length > 0) throw new Error(`a case-insensitive filesystem needs ${missing.join(', ')} (apt-get install exfat-fuse exfatprogs)`);
  const work = await mkdtemp(join(tmpdir(), 'casefold-'));
  const image = join(work, 'exfat.img');
  const dir = join(work, 'mnt');
  await writeFile(image, '');
  await truncate(image, 32 * 1024 * 1024);
  await mkdir(dir);
  await run('/usr/sbin/mkfs.exfat', [image]);
  const device = (await run('/usr/sbin/losetup', ['--find', '--show', image])).stdout.trim();
  try {
    await run('/usr/sbin/mount.exfat-fuse', [device, dir]);
  } catch (error) {
    await run('/usr/sbin/losetup', ['--detach', device]).catch(() => undefined);
    await rm(work, { recursive: true, force: true });
    throw error;
  }
  return {
    dir,
    async close() {
      await run('umount', [dir]);
      await run('/usr/sbin/losetup', ['--detach', device]).catch(() => undefined);
      await rm(work, { recursive: true, force: true });
    },
  };
}
