/**
 * Embedded PGlite that makes each commit durable before it answers.
 *
 * PGlite 0.5 starts PostgreSQL with `-F` (fsync off), and its Node filesystem (Emscripten's NODEFS) has
 * no fsync of its own, so every fsync PostgreSQL issued returned at once: a committed transaction was in
 * the page cache only, and a machine crash or power loss dropped events the service had acknowledged
 * (reproduced on a loop-device ext4 image; upstream: electric-sql/pglite#1107). Here:
 * - PostgreSQL runs with fsync on and `wal_sync_method=fsync` (Emscripten's `fdatasync` is also a no-op,
 *   while its `fsync` calls the stream's `fsync` operation when there is one);
 * - NODEFS streams get that operation: `fsync(2)` of the host descriptor.
 * Directories opened by PostgreSQL have no host descriptor in NODEFS, so their fsync stays a no-op; on a
 * journalling filesystem (ext4, xfs) the fsync of a file also commits the pending directory entries.
 *
 * This reaches into Emscripten's module (`NODEFS.stream_ops`), so it checks what it needs and fails the
 * start rather than run without durability; the PGlite version is pinned by the lock file, and
 * `test/db/pglite-durability.test.ts` checks the effect on a crash image of a real ext4 filesystem.
 */
import { fsyncSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { NodeFS } from '@electric-sql/pglite/nodefs';

/** PGlite's start parameters with fsync on, through `fsync(2)`. */
export const DURABLE_START_PARAMS: readonly string[] = [...PGlite.defaultStartParams.filter((param) => param !== '-F'), '-c', 'wal_sync_method=fsync'];

interface EmscriptenStream {
  readonly nfd?: unknown;
}

interface EmscriptenModule {
  readonly NODEFS?: { stream_ops?: { fsync?: (stream: EmscriptenStream) => number } };
}

/** A NodeFS whose fsync reaches the disk. */
export class DurableNodeFS extends NodeFS {
  override async init(...args: Parameters<NodeFS['init']>): ReturnType<NodeFS['init']> {
    const result = await super.init(...args);
    const options = result.emscriptenOpts as { preRun?: ((mod: EmscriptenModule) => void)[] };
    const makeDurable = (mod: EmscriptenModule): void => {
      const ops = mod.NODEFS?.stream_ops;
      if (ops === undefined) throw new Error("PGlite's Node filesystem has no stream operations to add fsync to: refusing to run the embedded database without durable commits");
      ops.fsync = (stream) => {
        if (typeof stream.nfd === 'number') fsyncSync(stream.nfd);
        return 0;
      };
    };
    options.preRun = [...(options.preRun ?? []), makeDurable];
    return result;
  }
}
