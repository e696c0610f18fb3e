/**
 * Read-range arithmetic shared by every backend, so `offset`/`length` mean exactly the same everywhere
 * and the contract suite's range tests pin one implementation instead of one per backend.
 */
import { StorageError } from './errors.ts';

/** The optional range of a read: `length` bytes starting at `offset`. */
export interface RangeOptions {
  /** First byte to read; defaults to 0. */
  readonly offset?: number;
  /** Bytes to read; defaults to (and is truncated at) the end of the object. */
  readonly length?: number;
  /**
   * The object's size as the caller recorded it: when the stored object has another size (a copy cut
   * short or grown on the medium), the read rejects with `integrity` before yielding anything, whatever
   * the range, so a reader is never served part of a damaged copy as if it were whole.
   */
  readonly expectedSize?: number;
}

/** A resolved half-open byte range `[start, end)` inside an object. */
export interface ByteRange {
  /** First byte, inclusive. */
  readonly start: number;
  /** End, exclusive; equal to `start` for an empty read. */
  readonly end: number;
}

/**
 * Checks the shape of `options` before the object is looked up: `offset` and `length` must be
 * non-negative safe integers. Throws `invalid-range` otherwise.
 */
export function validateRangeOptions(options: RangeOptions): void {
  const { offset, length } = options;
  if (offset !== undefined && !isByteCount(offset)) throw new StorageError('invalid-range', `read offset must be a non-negative integer, got ${String(offset)}`);
  if (length !== undefined && !isByteCount(length)) throw new StorageError('invalid-range', `read length must be a non-negative integer, got ${String(length)}`);
  const { expectedSize } = options;
  if (expectedSize !== undefined && !isByteCount(expectedSize)) throw new StorageError('invalid-range', `expected size must be a non-negative integer, got ${String(expectedSize)}`);
}

/** Throws `integrity` when `options.expectedSize` is given and is not `size`. */
export function checkExpectedSize(size: number, options: RangeOptions, what: string): void {
  if (options.expectedSize !== undefined && options.expectedSize !== size) {
    throw new StorageError('integrity', `${what} is ${size} bytes but was recorded as ${options.expectedSize}: the stored copy is damaged`);
  }
}

/**
 * Resolves `options` against an object of `size` bytes. An `expectedSize` other than `size` throws
 * `integrity`; an offset equal to the size gives an empty range, an offset past it throws
 * `invalid-range`, and a length reaching past the end is truncated.
 */
export function resolveRange(size: number, options: RangeOptions, what = 'the object'): ByteRange {
  validateRangeOptions(options);
  checkExpectedSize(size, options, what);
  const start = options.offset ?? 0;
  if (start > size) throw new StorageError('invalid-range', `read offset ${start} is past the end of a ${size}-byte object`);
  const end = options.length === undefined ? size : Math.min(size, start + options.length);
  return { start, end };
}

function isByteCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}
