/**
 * Gathers a byte stream into 2 MiB blocks of shared, aligned memory (`../storage/aligned-blocks.ts`) and
 * hands each full block to one consumer (ingest: the hasher and the storage writer together) while the
 * next block fills.
 *
 * Why: the stream's bytes are copied once on the main thread, into the block; the hash workers read the
 * block in place and the local writer writes it with `O_DIRECT` as it is. Before, each chunk was copied
 * three times on the main thread (gathering, the hasher's slab, the writer's aligned block), which was a
 * fifth of the data plane's main-thread time on a gRPC ingest (ADR 0013).
 *
 * A block whose consumer is done is refilled first; a further block is taken only while every held one is
 * still with the consumer, up to `maxBlocks`, so a producer faster than the consumer waits in `push`
 * (backpressure). The depth absorbs a consumer that stalls now and then (a disk flushing its cache holds
 * up the writes for tens of milliseconds) without stopping the stream; once the consumer has caught up,
 * the pooled blocks found idle behind the one being refilled go back to the pool down to the assured
 * ones, so a stream's depth lasts as long as the stall. A consumer that keeps up holds one or two blocks.
 * The first `assuredBlocks` come from the pool when it has them, else are shared blocks of the feed's own
 * (still read in place by the workers; the local writer then copies them); every block past those comes
 * only from the pool, and only while it keeps `POOL_RESERVE_BLOCKS` free for other streams (ADR 0018).
 *
 * A stream's first `HEAD_BYTES` gather in shared memory of the feed's own that grows with them
 * (`core/bytes/growing-buffer.ts`); only a stream that outgrows them takes a block, into which the head is
 * copied. A small upload hands its bytes over from there (the hash workers still read them in place) and
 * never holds a pooled block.
 */
import { copyBytes } from '../../core/bytes/copy-bytes.ts';
import { GrowingBuffer } from '../../core/bytes/growing-buffer.ts';
import { acquireAlignedBlock, BLOCK_BYTES, HEAD_BYTES, type AlignedBlock } from '../storage/aligned-blocks.ts';

/** Takes a view of a filled block; resolves when done with it (the block is then refilled). */
export type BlockConsumer = (bytes: Uint8Array) => Promise<void>;

/** Options of {@link createBlockFeed}. */
export interface BlockFeedOptions {
  /** Blocks held at most (filling plus consumed); at least 1. Default `DEFAULT_MAX_BLOCKS`. */
  readonly maxBlocks?: number;
  /**
   * Blocks held whatever the pool has (at most `maxBlocks`); past them only pooled blocks, while the pool
   * keeps `POOL_RESERVE_BLOCKS` free. Default `DEFAULT_ASSURED_BLOCKS`.
   */
  readonly assuredBlocks?: number;
}

/** A stream's gathering, see the file comment. */
export interface BlockFeed {
  /**
   * Copies `chunk` into the head or the current block, handing full blocks to the consumer; the caller may reuse
   * `chunk` once this resolves. Waits while every block is with the consumer; rejects with the consumer's
   * failure (which sticks: every later call rejects with it). Await each call before the next: two
   * overlapping pushes could interleave their bytes.
   */
  push(chunk: Uint8Array): Promise<void>;
  /**
   * `push` without a promise when none is needed: copies `chunk` and returns `undefined` when no block had
   * to be waited for, else a promise that settles as `push`'s would. Throws (synchronously) what `push`
   * would reject with at once. The same rule holds: settle each call before the next.
   */
  write(chunk: Uint8Array): Promise<void> | undefined;
  /**
   * Hands the last, partial block to the consumer, waits until it is done with every block, and gives
   * the blocks back to the pool at once (a commit may take a while; other streams can use them).
   */
  end(): Promise<void>;
  /**
   * Waits for every consumer call to settle, then gives the blocks back to the pool (if `end` has not).
   * Call it in a `finally`, after whatever the consumer writes into has been stopped; the feed is unusable
   * afterwards. Safe to call twice.
   */
  close(): Promise<void>;
}

/** Blocks a stream holds at most: 24 MiB, to ride out a disk that stalls while it flushes. */
export const DEFAULT_MAX_BLOCKS = 12;
/** Blocks a stream holds even when the pool is empty (its own memory then). */
export const DEFAULT_ASSURED_BLOCKS = 3;
/**
 * Pool blocks a stream leaves free when it takes one past its assured blocks: half the pool, room for
 * five more streams' assured blocks and a copying writer's own, so deep streams cannot push the next
 * ones onto memory of their own (whose blocks the local writer must copy).
 */
export const POOL_RESERVE_BLOCKS = 16;

interface HeldBlock {
  readonly bytes: Uint8Array;
  readonly pooled: AlignedBlock | undefined;
}

interface Consumed {
  readonly block: HeldBlock;
  readonly done: Promise<void>;
  /** Set once `done` fulfilled: the block can be taken back without waiting. */
  fulfilled: boolean;
}

/** Creates a feed handing full blocks to `consume`. */
export function createBlockFeed(consume: BlockConsumer, options: BlockFeedOptions = {}): BlockFeed {
  const maxBlocks = options.maxBlocks ?? DEFAULT_MAX_BLOCKS;
  if (!Number.isSafeInteger(maxBlocks) || maxBlocks < 1) throw new RangeError(`block feed: maxBlocks must be an integer ≥ 1, got ${String(maxBlocks)}`);
  const assuredOption = options.assuredBlocks ?? DEFAULT_ASSURED_BLOCKS;
  if (!Number.isSafeInteger(assuredOption) || assuredOption < 1) throw new RangeError(`block feed: assuredBlocks must be an integer ≥ 1, got ${String(assuredOption)}`);
  const assuredBlocks = Math.min(assuredOption, maxBlocks);
  const held: HeldBlock[] = [];
  const consuming: Consumed[] = [];
  let current: HeldBlock | undefined;
  let filled = 0;
  // The stream's first bytes until they outgrow HEAD_BYTES (then the start of the first block); undefined after.
  // Shared memory, so the hash workers read a small stream in place, as they read a block.
  let head: GrowingBuffer | undefined = new GrowingBuffer(HEAD_BYTES, { shared: true });
  let failure: { readonly error: unknown } | undefined;
  let closed = false;

  /** A further block to hold: undefined at `maxBlocks`, or past the assured ones when the pool cannot spare one. */
  function hold(): HeldBlock | undefined {
    if (held.length >= maxBlocks) return undefined;
    const assured = held.length < assuredBlocks;
    const pooled = acquireAlignedBlock(assured ? 0 : POOL_RESERVE_BLOCKS);
    if (pooled === undefined && !assured) return undefined;
    const block = { bytes: pooled?.bytes ?? Buffer.from(new SharedArrayBuffer(BLOCK_BYTES)), pooled };
    held.push(block);
    return block;
  }

  /** Waits for the oldest consumer call; its block is free again. Rethrows the consumer's failure. */
  async function settleOldest(): Promise<HeldBlock> {
    const oldest = consuming.shift() as Consumed;
    try {
      await oldest.done;
    } catch (error) {
      failure ??= { error };
      throw failure.error;
    }
    return oldest.block;
  }


  function handOver(): void {
    const block = current as HeldBlock;
    const bytes = filled === BLOCK_BYTES ? block.bytes : block.bytes.subarray(0, filled);
    current = undefined;
    filled = 0;
    start(block, bytes);
  }

  function start(block: HeldBlock, bytes: Uint8Array): void {
    // Called at once; a consumer that throws instead of rejecting still yields a rejected promise.
    const done = (async () => consume(bytes))();
    const entry: Consumed = { block, done, fulfilled: false };
    // Observed by settleOldest / end / close as well; never unhandled. A failure sticks at once, so the
    // next write stops the stream instead of handing the consumer more blocks.
    done.then(
      () => {
        entry.fulfilled = true;
      },
      (error: unknown) => {
        failure ??= { error };
      },
    );
    consuming.push(entry);
  }

  function releaseAll(): void {
    consuming.length = 0;
    current = undefined;
    head = undefined;
    for (const block of held) block.pooled?.release();
    held.length = 0;
  }

  function check(): void {
    if (closed) throw new Error('block feed is closed');
    if (failure !== undefined) throw failure.error;
  }

  /**
   * A block at once when one is free, else undefined: the oldest block when its consumer call is done
   * (refilling before taking more keeps a stream whose consumer keeps up at one or two blocks), else a
   * further block when `hold` gives one. Pooled blocks that are idle behind the one refilled go back to
   * the pool, down to the assured ones: a stream that went deep during a stall gives the depth back once
   * its consumer caught up.
   */
  function freeBlockNow(): HeldBlock | undefined {
    const oldest = consuming[0];
    if (oldest !== undefined && oldest.fulfilled) {
      consuming.shift();
      for (let next = consuming[0]; held.length > assuredBlocks && next?.fulfilled === true && next.block.pooled !== undefined; next = consuming[0]) {
        consuming.shift();
        held.splice(held.indexOf(next.block), 1);
        next.block.pooled.release();
      }
      return oldest.block;
    }
    return hold();
  }

  /** Copies `chunk` from `offset` on, taking blocks only when free at once; returns where it stopped. */
  function copyWhileFree(chunk: Uint8Array, offset: number): number {
    while (offset < chunk.byteLength) {
      current ??= freeBlockNow();
      if (current === undefined) return offset;
      const n = Math.min(BLOCK_BYTES - filled, chunk.byteLength - offset);
      copyBytes(current.bytes, chunk.subarray(offset, offset + n), filled);
      filled += n;
      offset += n;
      if (filled === BLOCK_BYTES) handOver();
    }
    return offset;
  }

  /** A write that had to wait, while it runs: `close` waits for it (it holds a block no list names). */
  let waitingWrite: Promise<void> | undefined;

  function trackWaiting(write: Promise<void>): Promise<void> {
    const tracked = write.finally(() => {
      if (waitingWrite === tracked) waitingWrite = undefined;
    });
    waitingWrite = tracked;
    return tracked;
  }

  /** The rest of `write` once it has to wait for a block. */
  async function writeWaiting(chunk: Uint8Array, offset: number): Promise<void> {
    for (;;) {
      offset = copyWhileFree(chunk, offset);
      if (offset >= chunk.byteLength) return;
      current = await settleOldest();
      // Another consumer call may have failed while this one was awaited: hand nothing more over.
      if (failure !== undefined) throw failure.error;
    }
  }

  function write(chunk: Uint8Array): Promise<void> | undefined {
    check();
    if (head !== undefined) {
      if (head.tryAppend(chunk)) return undefined;
      // The head outgrew HEAD_BYTES (less than a block): it starts the stream's first block. No block is
      // held while the head is in use, so an assured one always comes.
      const gathered = head;
      head = undefined;
      const first = hold();
      if (first === undefined) throw new Error('block feed: no first block');
      current = first;
      copyBytes(current.bytes, gathered.view());
      filled = gathered.length;
      gathered.clear();
    }
    const offset = copyWhileFree(chunk, 0);
    return offset >= chunk.byteLength ? undefined : trackWaiting(writeWaiting(chunk, offset));
  }

  return {
    write,
    async push(chunk) {
      await write(chunk);
    },
    async end() {
      check();
      if (head !== undefined) {
        // The whole stream fit in the head: handed over from there, no pooled block held.
        const gathered = head.view();
        head = undefined;
        if (gathered.byteLength > 0) start({ bytes: gathered, pooled: undefined }, gathered);
      } else if (filled > 0) handOver();
      while (consuming.length > 0) await settleOldest();
      closed = true; // nothing reads the blocks any more
      releaseAll();
    },
    async close() {
      if (closed && held.length === 0 && waitingWrite === undefined) return;
      closed = true;
      // A write still waiting for a block holds the oldest one outside `consuming`, and may hand over
      // more: wait for it first, then for every consumer call.
      if (waitingWrite !== undefined) await waitingWrite.catch(() => undefined);
      await Promise.allSettled(consuming.map((entry) => entry.done));
      releaseAll();
    },
  };
}
