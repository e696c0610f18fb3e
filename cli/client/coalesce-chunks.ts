/**
 * Few large writes instead of many small ones: a tar archive of small files comes out of tar-stream as
 * four or five chunks per file (pax header, its records, ustar header, the data, padding), and each chunk
 * written to an HTTP request is one socket write. `coalesceChunks` passes the bytes on unchanged, in
 * chunks of at least `bytes` (the last one shorter), so a batch of 250 files costs a few writes.
 */
import { Transform } from 'node:stream';
import { GrowingBuffer } from '../../core/bytes/growing-buffer.ts';

/** Default size of the chunks passed on. */
export const COALESCED_CHUNK_BYTES = 256 * 1024;

/** Room beyond `bytes` in a fresh gathering buffer: the chunk that crosses `bytes` usually fits in it. */
const INITIAL_SLACK_BYTES = 64 * 1024;

/** Most allocated up front for a chunk (a larger `bytes` grows past it by doubling). */
const MAX_INITIAL_BYTES = 4 * 1024 * 1024;

/**
 * A Transform that gathers its input into chunks of at least `bytes` bytes; the stream's end flushes the
 * rest. Each chunk is copied as it is accepted (`GrowingBuffer`), so the source may reuse its buffer from
 * then on.
 */
export function coalesceChunks(bytes: number = COALESCED_CHUNK_BYTES): Transform {
  if (!Number.isSafeInteger(bytes) || bytes < 1) throw new RangeError(`coalesceChunks: bytes must be a positive integer, got ${bytes}`);
  // No limit of its own: the gathered bytes go out as soon as they reach `bytes`, so they never exceed it
  // by more than one chunk. Room for `bytes` and a chunk from the start: a chunk of the archive is
  // allocated once, not grown from 16 KiB by doubling (six allocations and five copies per 256 KiB).
  const gathered = new GrowingBuffer(Number.MAX_SAFE_INTEGER, { initialCapacity: Math.min(bytes, MAX_INITIAL_BYTES) + INITIAL_SLACK_BYTES });
  const take = (): Buffer => {
    // The view keeps its memory after `clear`, which only lets the buffer go and starts a new one.
    const out = gathered.view();
    gathered.clear();
    return out;
  };
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      gathered.tryAppend(chunk);
      if (gathered.length >= bytes) done(null, take());
      else done();
    },
    flush(done) {
      if (gathered.length > 0) done(null, take());
      else done();
    },
  });
}
