/**
 * Gate of the tests that mount filesystems of their own (an exFAT image through FUSE for a
 * case-insensitive directory, ext4 images for crash images): they need root and the tools named.
 *
 * | variable | meaning |
 * |---|---|
 * | `ARTIFACTSTORE_TEST_MOUNTS=required` | missing tools are a failure, not a skip (.ci/run installs them and sets it) |
 *
 * Without it, such tests run when the process is root and the tools are installed, and are skipped otherwise.
 */
import { existsSync } from 'node:fs';
import { describe } from 'vitest';

/** True when a test that cannot mount must fail the run (CI). */
export const MOUNTS_REQUIRED = process.env['ARTIFACTSTORE_TEST_MOUNTS'] === 'required';

/** `describe` when `tools` are installed and the process is root (or mounting is required), `describe.skip` otherwise. */
export function describeMounting(tools: readonly string[]): typeof describe | typeof describe.skip {
  const possible = tools.every((tool) => existsSync(tool)) && process.getuid?.() === 0;
  return MOUNTS_REQUIRED || possible ? describe : describe.skip;
}

/** Tools of an ext4 image on a loop device. */
export const EXT4_TOOLS = ['/usr/sbin/mkfs.ext4', '/usr/sbin/losetup', '/usr/bin/mount'] as const;
