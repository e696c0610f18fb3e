/**
 * Embedded PGlite that makes each commit durable before it answers.
 *
 * PGlite 0.5 starts PostgreSQL with `-F` (fsync off), and its Node filesystem (Emscripten's NODEFS) has
 * no fsync of its own, so every fsync PostgreSQL issued returned at once: a committed transaction was in
 * the page cache only, and a machine crash or power loss dropped events the service had acknowledged
 * (reproduced on a loop-device ext4 image; upstream: electric-sql/pglite#1107). Here:
 * - PostgreSQL runs with fsync on and `wal_sync_method=fsync` (Emscripten's `fdatasync` is also a no-op,
 *   while its `fsync` calls the stream's `fsync` operation when there is one);
 * - NODEFS streams get that operation: `fsync(2)` of the host descriptor (files and directories: NODEFS
 *   opens both on the host), as PostgreSQL issues them at each commit (the WAL) and at checkpoints.
 *
 * A failed fsync cannot be retried safely (the kernel may have dropped the dirty pages: PostgreSQL's own
 * answer is to PANIC). Thrown back into PGlite it left the process spinning with the event loop blocked,
 * so the hook writes the reason to stderr and ends the process; the next start recovers from the WAL
 * and takes over the lock. EINVAL or EBADF on a directory is ignored, as PostgreSQL ignores it.
 *
 * This reaches into Emscripten's module (`NODEFS.stream_ops`), so it checks what it needs and fails the
 * start rather than run without durability; the PGlite version is pinned by the lock file, and
 * `test/db/pglite-durability.test.ts` checks the effect on a crash image of a real ext4 filesystem.
 */
import { fstatSync, fsyncSync, writeSync } from 'node:fs';
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

/** How a failed fsync ends the process (tests replace it). */
export type FsyncFailure = (error: unknown) => never;

function endProcess(error: unknown): never {
  const reason = error instanceof Error ? error.message : String(error);
  writeSync(2, `artifactstore: the embedded database could not make a write durable (fsync failed: ${reason}); stopping so that nothing unsynced is acknowledged. The next start recovers from the write-ahead log.\n`);
  process.exit(70);
}

/** Options of {@link DurableNodeFS}. */
export interface DurableNodeFSOptions {
  /** `fsync(2)` of a host descriptor; default `fs.fsyncSync`. */
  readonly fsync?: (fd: number) => void;
  /** Called when an fsync fails (never returns); default: write the reason to stderr and exit 70. */
  readonly onFailure?: FsyncFailure;
}

function isDirectoryFailure(fd: number, error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  if (code !== 'EINVAL' && code !== 'EBADF') return false;
  try {
    return fstatSync(fd).isDirectory();
  } catch {
    return false;
  }
}

/** A NodeFS whose fsync reaches the disk. */
export class DurableNodeFS extends NodeFS {
  readonly #fsync: (fd: number) => void;
  readonly #onFailure: FsyncFailure;

  constructor(dataDir: string, options: DurableNodeFSOptions = {}) {
    super(dataDir);
    this.#fsync = options.fsync ?? fsyncSync;
    this.#onFailure = options.onFailure ?? endProcess;
  }

  override async init(...args: Parameters<NodeFS['init']>): ReturnType<NodeFS['init']> {
    const result = await super.init(...args);
    const options = result.emscriptenOpts as { preRun?: ((mod: EmscriptenModule) => void)[] };
    const makeDurable = (mod: EmscriptenModule): void => {
      const ops = mod.NODEFS?.stream_ops;
      if (ops === undefined) throw new Error("PGlite's Node filesystem has no stream operations to add fsync to: refusing to run the embedded database without durable commits");
      const fsync = this.#fsync;
      const onFailure = this.#onFailure;
      ops.fsync = (stream) => {
        const fd = stream.nfd;
        if (typeof fd !== 'number') return 0;
        try {
          fsync(fd);
        } catch (error) {
          if (!isDirectoryFailure(fd, error)) onFailure(error);
        }
        return 0;
      };
    };
    options.preRun = [...(options.preRun ?? []), makeDurable];
    return result;
  }
}
