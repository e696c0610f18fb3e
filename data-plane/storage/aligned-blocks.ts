/**
 * One process-wide pool of 2 MiB blocks of shared memory, each starting on a page boundary.
 *
 * Two properties, two users (ADR 0013):
 * - **Shared** (a `SharedArrayBuffer`): a hash worker reads a view of a block in place, no copy per message.
 * - **Aligned** (4096 bytes): the local writer hands a full block to `O_DIRECT` as it is, no copy into
 *   an aligned buffer of its own (`O_DIRECT` needs the address, offset and length aligned).
 * Ingest gathers a stream's bytes into these blocks once, then gives the same block to both.
 *
 * Node has no aligned allocator, but a WebAssembly memory starts on a page boundary; a shared one is
 * backed by a `SharedArrayBuffer`. The memory is created on first use, at its final size (growing it
 * would move nothing here, but a fixed size keeps the pool's footprint predictable): untouched pages cost
 * no RAM. When every block is taken, callers fall back to memory of their own (see each caller).
 */

/** Alignment of offsets and lengths for `O_DIRECT`: 4096 covers devices with 512-byte and 4 KiB logical blocks. */
export const DIRECT_ALIGNMENT = 4096;
/** Bytes per block (a multiple of the alignment). */
export const BLOCK_BYTES = 2 * 1024 * 1024;
/**
 * Bytes a stream gathers in memory of its own (`core/bytes/growing-buffer.ts`; shared in the block feed)
 * before it takes a block: an object this small never holds one, so many concurrent small uploads cannot
 * empty the pool.
 */
export const HEAD_BYTES = 256 * 1024;
/** Blocks in the process (64 MiB of address space; resident only once touched). */
const BLOCKS = 32;
const WASM_PAGE_BYTES = 64 * 1024;

/** One block, held by one user until released. */
export interface AlignedBlock {
  /** `BLOCK_BYTES` bytes on the pool's shared memory, starting on an aligned address. */
  readonly bytes: Buffer;
  /** Gives the block back to the pool. Idempotent; the holder must not touch `bytes` afterwards. */
  release(): void;
}

// @types/node declares WebAssembly as types only; the global exists at run time in every Node.
interface SharedMemoryConstructor {
  new (descriptor: { initial: number; maximum: number; shared: true }): { readonly buffer: SharedArrayBuffer };
}
const wasm = (globalThis as unknown as { WebAssembly: { Memory: SharedMemoryConstructor } }).WebAssembly;

let memory: SharedArrayBuffer | undefined;
let blocks: Buffer[] = [];
const free: number[] = [];

function createPool(): SharedArrayBuffer {
  const pages = (BLOCKS * BLOCK_BYTES) / WASM_PAGE_BYTES;
  const created = new wasm.Memory({ initial: pages, maximum: pages, shared: true }).buffer;
  blocks = Array.from({ length: BLOCKS }, (_, i) => Buffer.from(created, i * BLOCK_BYTES, BLOCK_BYTES));
  for (let i = BLOCKS - 1; i >= 0; i--) free.push(i);
  return created;
}

/**
 * A free block, or undefined when all are held, or when taking one would leave fewer than `leaveFree`
 * blocks for others (a caller that only wants a block it can do without).
 */
export function acquireAlignedBlock(leaveFree = 0): AlignedBlock | undefined {
  memory ??= createPool();
  if (free.length <= leaveFree) return undefined;
  const index = free.pop();
  if (index === undefined) return undefined;
  let released = false;
  return {
    bytes: blocks[index] as Buffer,
    release() {
      if (released) return;
      released = true;
      free.push(index);
    },
  };
}

/**
 * True when `view` lies on the pool's memory, starts on an aligned address and has a non-zero length that
 * is a multiple of the alignment: bytes `O_DIRECT` can write as they are.
 */
export function isAlignedView(view: Uint8Array): boolean {
  return (
    memory !== undefined &&
    view.buffer === memory &&
    view.byteLength > 0 &&
    view.byteOffset % DIRECT_ALIGNMENT === 0 &&
    view.byteLength % DIRECT_ALIGNMENT === 0
  );
}

/** True when `view` lies on the pool's memory (a view of some block, of any length). */
export function isPooledView(view: Uint8Array): boolean {
  return memory !== undefined && view.buffer === memory;
}

/** Blocks not held right now; for tests. */
export function freeAlignedBlocks(): number {
  return memory === undefined ? BLOCKS : free.length;
}
