/**
 * Benchmark input without generating it in the timed region: one random chunk viewed repeatedly up to
 * the size asked, and the in-process SHA-256 baseline every throughput table is measured against.
 */
import { createHash as createSha256, randomFillSync } from 'node:crypto';
import type { BenchCase, BenchTarget } from './bench-case.ts';

/** Size of the reused chunk: 1 MiB, as the hash suite has always used. */
export const CHUNK_BYTES = 1024 * 1024;

/** One GiB, the unit service benchmarks scale their work by (`--size 1GiB` is the figure). */
export const GiB = 1024 ** 3;

/** A fresh random chunk to view repeatedly. */
export function randomChunk(bytes: number = CHUNK_BYTES): Buffer {
  return randomFillSync(Buffer.allocUnsafe(bytes));
}

/** Bytes a timed ingest run sends: a chunk of its own, and the SHA-256 of `size` bytes of it repeated. */
export interface FreshContent {
  readonly chunk: Buffer;
  /** `<hex>`, computed on this thread before the run (untimed). */
  readonly sha256: string;
}

/**
 * A new random chunk and its stream's SHA-256, for one timed ingest run: each run stores a new object.
 * Sending the suite's one chunk every time would make every ingest after the first a duplicate of a
 * stored object, which times something else: the data plane then also removes the staged copy it has
 * just written (on 2026-12-05's VM, unlinking a 1 GiB staged file took 220-240 ms).
 */
export function freshContent(size: number): FreshContent {
  const chunk = randomChunk();
  return { chunk, sha256: sha256Of(chunk, size) };
}

/** `size` bytes as views of `chunk`: full chunks, then a shorter tail. No byte is copied. */
export function* chunksOf(chunk: Uint8Array, size: number): Generator<Uint8Array> {
  for (let offset = 0; offset < size; offset += chunk.byteLength) {
    yield size - offset >= chunk.byteLength ? chunk : chunk.subarray(0, size - offset);
  }
}

/** The same views as an async stream, without the extra promise hop per chunk an async generator adds. */
export function streamOf(chunk: Uint8Array, size: number): AsyncIterable<Uint8Array> {
  return {
    [Symbol.asyncIterator]() {
      const parts = chunksOf(chunk, size);
      return { next: () => Promise.resolve(parts.next()) };
    },
  };
}

/** SHA-256 (`<hex>`) of `size` bytes of `chunk` repeated, hashed on this thread. */
export function sha256Of(chunk: Uint8Array, size: number): string {
  const hash = createSha256('sha256');
  for (const part of chunksOf(chunk, size)) hash.update(part);
  return hash.digest('hex');
}

/**
 * The baseline case of a throughput table: node:crypto SHA-256 over `size` bytes of `chunk` on the main
 * thread. It reports `check.sha256`, so a case that stores the same bytes can report the server's SHA-256
 * under the same key and the runner proves they agree.
 */
export function sha256Baseline(name: string, chunk: Uint8Array, size: number): BenchCase {
  return {
    name,
    description: 'node:crypto SHA-256 on the main thread (baseline)',
    baseline: true,
    run() {
      return Promise.resolve({ bytes: size, check: { sha256: sha256Of(chunk, size) } });
    },
  };
}

/** Target: bytes per second at least `factor` times the suite baseline's (in-process SHA-256). */
export function rateTarget(factor: number): BenchTarget {
  return {
    label: 'throughput / SHA-256 rate',
    unit: 'x',
    bound: { atLeast: factor },
    figure: ({ bytes, seconds, baselineBytesPerSecond }) => (baselineBytesPerSecond === undefined ? Number.NaN : bytes / seconds / baselineBytesPerSecond),
  };
}

/** `count × size / 1 GiB`, rounded, at least `minimum`: how a count-based case scales with `--size`. */
export function scaled(count: number, size: number, minimum = 1): number {
  return Math.max(minimum, Math.round((count * size) / GiB));
}
