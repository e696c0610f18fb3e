/**
 * Few large writes instead of many small ones: a tar archive of small files comes out of tar-stream as
 * four or five chunks per file (pax header, its records, ustar header, the data, padding), and each chunk
 * written to an HTTP request is one socket write. `coalesceChunks` passes the bytes on unchanged, in
 * chunks of at least `bytes` (the last one shorter), so a batch of 250 files costs a few writes.
 */
import { Transform } from 'node:stream';

/** Default size of the chunks passed on. */
export const COALESCED_CHUNK_BYTES = 256 * 1024;

/**
 * A Transform that gathers its input into chunks of at least `bytes` bytes; the stream's end flushes the
 * rest. Each chunk is copied as it is accepted, so the source may reuse its buffer from then on.
 */
export function coalesceChunks(bytes: number = COALESCED_CHUNK_BYTES): Transform {
  if (!Number.isSafeInteger(bytes) || bytes < 1) throw new RangeError(`coalesceChunks: bytes must be a positive integer, got ${bytes}`);
  let gathered = Buffer.alloc(0);
  let size = 0;
  const take = (): Buffer => {
    const out = gathered.subarray(0, size);
    gathered = Buffer.alloc(0);
    size = 0;
    return out;
  };
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      if (size + chunk.byteLength > gathered.byteLength) {
        // A fresh buffer for the next chunk out, or a larger one for a chunk longer than what is left
        // (the result then goes out right below).
        const grown = Buffer.allocUnsafe(Math.max(bytes, size + chunk.byteLength));
        gathered.copy(grown, 0, 0, size);
        gathered = grown;
      }
      chunk.copy(gathered, size);
      size += chunk.byteLength;
      if (size >= bytes) done(null, take());
      else done();
    },
    flush(done) {
      if (size > 0) done(null, take());
      else done();
    },
  });
}
