// A filesystem that refuses O_DIRECT (older tmpfs, some FUSE and network mounts) cannot be mounted in a
// test here, so openDirect is replaced by one that refuses, as such a filesystem's open(2) would: the
// writer must switch to buffered writes after its first block and store exactly the same bytes.
import { tmpdir } from 'node:os';
import { vi } from 'vitest';
import type * as DirectIo from '../../data-plane/storage/local/direct-io.ts';
import { describeRoot } from './direct-io-cases.ts';

vi.mock('../../data-plane/storage/local/direct-io.ts', async (importOriginal) => {
  const actual = await importOriginal<typeof DirectIo>();
  return { ...actual, openDirect: () => Promise.resolve(undefined) };
});

describeRoot('a filesystem refusing O_DIRECT', tmpdir());
