/**
 * One byte copy for the data path that is a plain `memcpy` whatever memory the views sit on.
 *
 * Why not `target.set(source, offset)`: when either side is a SharedArrayBuffer (the ingest blocks and
 * the hash slabs are, so that workers read them in place), V8 copies with relaxed atomic word stores
 * (`v8::internal::relaxed_memmove`), not the C library's vectorised `memcpy`; Node 20's `Buffer#copy` is
 * `TypedArray#set` too. Measured on a 1 GiB HTTP ingest (ADR 0013), that copy was a third of the data
 * plane's main-thread samples, four times the cost of node:http's own copy of the same bytes.
 * `Buffer#fill` with a byte-array value is Node's native fill, which copies the value with `memcpy`
 * into the range, on shared memory as on any other. Between two views of ordinary memory, `set` is a
 * plain memmove already, and cheaper per call than `fill` (measured: 27 against 67 ns for 512 bytes,
 * 44 against 84 ns for 4 KiB, the same speed for 2 MiB), so that is what runs there.
 */
import { Buffer } from 'node:buffer';


/**
 * Copies all of `source` into `target` at `offset`, like `target.set(source, offset)`. Either view may be
 * on a SharedArrayBuffer; they must not overlap (the callers copy between separate buffers).
 * @throws RangeError when `source` does not fit at `offset`.
 */
export function copyBytes(target: Uint8Array, source: Uint8Array, offset = 0): void {
  const end = offset + source.byteLength;
  if (!Number.isSafeInteger(offset) || offset < 0 || end > target.byteLength) {
    throw new RangeError(`copyBytes: ${source.byteLength} bytes do not fit at offset ${offset} of ${target.byteLength}`);
  }
  // fill() refuses an empty value; an empty copy has nothing to do anyway.
  if (source.byteLength === 0) return;
  // Ordinary memory on both sides: `set` is V8's own memmove, and for the small copies of the CLI's
  // archive (headers, 4 KiB files) it costs a third of `fill`'s argument handling.
  if (!(target.buffer instanceof SharedArrayBuffer) && !(source.buffer instanceof SharedArrayBuffer)) {
    target.set(source, offset);
    return;
  }
  // A Buffer over the target's memory (no copy); fill() with a byte-array value is the native memcpy.
  const view = Buffer.isBuffer(target) ? target : Buffer.from(target.buffer, target.byteOffset, target.byteLength);
  view.fill(source, offset, end);
}
