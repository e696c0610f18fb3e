/**
 * Hashing throughput: the dual BLAKE3 + SHA-256 `digestStream` against in-process single-algorithm hashing.
 *
 * Input is one random 1 MiB chunk yielded repeatedly up to `--size`, so generating bytes is not measured.
 * Note the baseline's advantage: hashing the same 1 MiB over and over in one thread reads it from that
 * core's L2 cache, while the workers read bytes last written by another core (ADR 0002).
 */
import { createHash as createSha256 } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { createHash as createBlake3 } from 'blake3';
import { digestStream } from '../core/identity/digest-stream.ts';
import { createHashPool, type HashPool, type HashPoolOptions } from '../core/identity/hash-pool.ts';
import type { BenchCase, BenchSuite } from './bench-case.ts';
import { CHUNK_BYTES, chunksOf, randomChunk, sha256Baseline, streamOf } from './byte-source.ts';

const WARM_UP_BYTES = 32 * CHUNK_BYTES;

function workerCase(name: string, description: string, chunk: Uint8Array, size: number, poolOptions: HashPoolOptions): BenchCase {
  let pool: HashPool | undefined;
  return {
    name,
    description,
    async setup() {
      pool = createHashPool(poolOptions);
      // Start the workers and warm the JIT outside the timed region.
      await digestStream(streamOf(chunk, WARM_UP_BYTES), { pool });
    },
    async run() {
      const digest = await digestStream(streamOf(chunk, size), pool === undefined ? {} : { pool });
      return { bytes: digest.size, check: { sha256: digest.sha256.hex, blake3: digest.blake3.hex } };
    },
    async teardown() {
      await pool?.close();
    },
  };
}

/** Dual hashing via `digestStream` (worker threads) vs in-process SHA-256 (the baseline) and BLAKE3. */
export const hashSuite: BenchSuite = {
  name: 'hash',
  createCases({ size }): BenchCase[] {
    const chunk = randomChunk();
    const defaultSize = Math.min(availableParallelism(), 8);
    return [
      sha256Baseline('sha256-inprocess', chunk, size),
      {
        name: 'blake3-inprocess',
        description: 'native BLAKE3 on the main thread',
        run() {
          const hash = createBlake3();
          for (const part of chunksOf(chunk, size)) hash.update(part);
          return Promise.resolve({ bytes: size, check: { blake3: hash.digest().toString('hex') } });
        },
      },
      {
        name: 'dual-inprocess',
        description: 'SHA-256 + BLAKE3 on the main thread (blocks the event loop)',
        run() {
          const sha256 = createSha256('sha256');
          const blake3 = createBlake3();
          for (const part of chunksOf(chunk, size)) {
            sha256.update(part);
            blake3.update(part);
          }
          return Promise.resolve({ bytes: size, check: { sha256: sha256.digest('hex'), blake3: blake3.digest().toString('hex') } });
        },
      },
      workerCase('digest-stream', `digestStream, default pool (${defaultSize} workers${defaultSize >= 2 ? ', one per algorithm' : ''})`, chunk, size, {}),
      workerCase('digest-stream-1-worker', 'digestStream, pool of 1 worker hashing both', chunk, size, { size: 1 }),
    ];
  },
};
