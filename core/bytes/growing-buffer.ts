/**
 * Gathers the first bytes of a stream in memory that grows with them, up to a limit (ordinary memory, or a
 * SharedArrayBuffer when hash workers are to read it in place).
 *
 * Why: ingest gathers a stream into 2 MiB blocks of a small shared pool (ADR 0013), and the local writer
 * gathers what it cannot write in place into one more. A small upload would hold two of those blocks for
 * its whole life, so a few dozen concurrent small PUTs emptied the pool, and every stream after them
 * allocated 2 MiB of shared memory of its own. The feed and the writer now gather a stream's head here
 * and take a pooled block only once the head outgrows the limit; a small object never takes one.
 */
import { Buffer } from 'node:buffer';
import { copyBytes } from './copy-bytes.ts';

/** Smallest capacity allocated, so that a stream of tiny chunks does not reallocate at every one. */
const MIN_CAPACITY = 16 * 1024;

/** Options of {@link GrowingBuffer}. */
export interface GrowingBufferOptions {
  /**
   * Keep the bytes on a SharedArrayBuffer, so that hash workers read them in place as they read a pooled
   * block (the dual hasher would otherwise copy them into a 4 MiB slab of its own). Default false.
   */
  readonly shared?: boolean;
  /**
   * Capacity of the first allocation (default 16 KiB, at most `limit`): a user that knows how much it will
   * gather saves the doublings and their copies.
   */
  readonly initialCapacity?: number;
}

/** A byte buffer that grows (doubling) up to `limit` bytes; see the file comment. */
export class GrowingBuffer {
  readonly limit: number;
  readonly #shared: boolean;
  readonly #initialCapacity: number;
  #bytes: Buffer | undefined;
  #length = 0;

  constructor(limit: number, options: GrowingBufferOptions = {}) {
    if (!Number.isSafeInteger(limit) || limit < 0) throw new RangeError(`GrowingBuffer: limit must be a non-negative integer, got ${String(limit)}`);
    this.limit = limit;
    this.#shared = options.shared === true;
    const initial = options.initialCapacity ?? MIN_CAPACITY;
    if (!Number.isSafeInteger(initial) || initial < 1) throw new RangeError(`GrowingBuffer: initialCapacity must be a positive integer, got ${String(initial)}`);
    this.#initialCapacity = initial;
  }

  /** Bytes gathered. */
  get length(): number {
    return this.#length;
  }

  /**
   * Appends a copy of `chunk` when the total stays within the limit and returns true; returns false and
   * appends nothing otherwise (the caller then moves the gathered bytes on, see `view`).
   */
  tryAppend(chunk: Uint8Array): boolean {
    const needed = this.#length + chunk.byteLength;
    if (needed > this.limit) return false;
    if (chunk.byteLength === 0) return true;
    const capacity = this.#bytes?.byteLength ?? 0;
    if (needed > capacity) {
      const size = Math.min(this.limit, Math.max(needed, capacity * 2, this.#initialCapacity));
      const grown = this.#shared ? Buffer.from(new SharedArrayBuffer(size)) : Buffer.allocUnsafeSlow(size);
      if (this.#bytes !== undefined && this.#length > 0) copyBytes(grown, this.#bytes.subarray(0, this.#length));
      this.#bytes = grown;
    }
    copyBytes(this.#bytes as Buffer, chunk, this.#length);
    this.#length = needed;
    return true;
  }

  /** The gathered bytes (a view, valid until the next `tryAppend` or `clear`). */
  view(): Buffer {
    return this.#bytes === undefined ? Buffer.alloc(0) : this.#bytes.subarray(0, this.#length);
  }

  /** Forgets the gathered bytes and lets their memory go. */
  clear(): void {
    this.#bytes = undefined;
    this.#length = 0;
  }
}
