/**
 * A small ext4 filesystem on a loop device, and its crash image: a copy of the backing file taken while
 * it is mounted holds exactly what reached the "disk" (written back or made durable by fsync), not what
 * sits in the page cache: what a power loss at that moment would leave. Needs root, `mkfs.ext4`,
 * `losetup` and `mount`; gated like the other mounting tests (`./mounts.ts`).
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A mounted ext4 image. */
export interface Ext4Disk {
  /** The mount point. */
  readonly dir: string;
  /** Copies the backing file as it is now (a power loss at this instant), to be mounted with {@link mountExt4Image}. */
  crashImage(): Promise<string>;
  /** Unmounts, frees the loop device, removes the image (crash images taken stay until their own close). */
  close(): Promise<void>;
}

async function attach(image: string, dir: string): Promise<string> {
  const device = (await run('/usr/sbin/losetup', ['--find', '--show', image])).stdout.trim();
  try {
    await run('mount', [device, dir]);
  } catch (error) {
    await run('/usr/sbin/losetup', ['--detach', device]).catch(() => undefined);
    throw error;
  }
  return device;
}

async function mounted(work: string, image: string): Promise<Ext4Disk> {
  const dir = join(work, 'mnt');
  await mkdir(dir, { recursive: true });
  const device = await attach(image, dir);
  let crashes = 0;
  return {
    dir,
    async crashImage() {
      const copy = join(work, `crash-${++crashes}.img`);
      await copyFile(image, copy);
      return copy;
    },
    async close() {
      await run('umount', [dir]);
      await run('/usr/sbin/losetup', ['--detach', device]).catch(() => undefined);
      await rm(work, { recursive: true, force: true });
    },
  };
}

/** Creates and mounts a new ext4 filesystem of `mib` MiB. */
export async function createExt4Disk(mib = 128): Promise<Ext4Disk> {
  const work = await mkdtemp(join(tmpdir(), 'ext4-disk-'));
  const image = join(work, 'disk.img');
  await writeFile(image, '');
  await truncate(image, mib * 1024 * 1024);
  await run('/usr/sbin/mkfs.ext4', ['-q', '-F', image]);
  return mounted(work, image);
}

/** Mounts a crash image (ext4 replays its journal, as after a reboot) in a directory of its own. */
export async function mountExt4Image(image: string): Promise<Ext4Disk> {
  const work = await mkdtemp(join(tmpdir(), 'ext4-crash-'));
  const own = join(work, 'disk.img');
  await copyFile(image, own);
  return mounted(work, own);
}
