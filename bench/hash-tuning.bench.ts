/**
 * Opt-in sweep behind the dual hasher's defaults (ADR 0002): batch size, window size and worker placement,
 * each against in-process SHA-256. Run with `npm run bench -- --only hash-tuning --size 512MiB`.
 */
import { randomFillSync, createHash as createSha256 } from 'node:crypto';
import { createDualHasher } from '../core/identity/dual-hasher.ts';
import { createHashPool, type HashPool } from '../core/identity/hash-pool.ts';
import type { BenchCase, BenchSuite } from './bench-case.ts';

const MiB = 1024 * 1024;
const CHUNK_BYTES = MiB;

/** [batch MiB, window MiB, pool size] per case. */
const CONFIGS: readonly (readonly [number, number, number])[] = [
  [1, 16, 2],
  [2, 8, 2],
  [4, 8, 2],
  [4, 16, 2],
  [4, 32, 2],
  [4, 8, 1],
];

/** Batch/window/placement sweep of `createDualHasher`, fed 1 MiB chunks; SHA-256 in-process is the baseline. */
export const hashTuningSuite: BenchSuite = {
  name: 'hash-tuning',
  optIn: true,
  createCases({ size }): BenchCase[] {
    const chunk = randomFillSync(Buffer.allocUnsafe(CHUNK_BYTES));
    const feed = async (pool: HashPool, batch: number, window: number, bytes: number): Promise<string> => {
      const hasher = createDualHasher(pool, { batchBytes: batch * MiB, windowBytes: window * MiB });
      for (let offset = 0; offset < bytes; offset += CHUNK_BYTES) await hasher.update(bytes - offset >= CHUNK_BYTES ? chunk : chunk.subarray(0, bytes - offset));
      return (await hasher.digest()).sha256.hex;
    };
    return [
      {
        name: 'tuning-sha256-inprocess',
        description: 'node:crypto SHA-256 on the main thread (baseline)',
        baseline: true,
        run() {
          const hash = createSha256('sha256');
          for (let offset = 0; offset < size; offset += CHUNK_BYTES) hash.update(size - offset >= CHUNK_BYTES ? chunk : chunk.subarray(0, size - offset));
          return Promise.resolve({ bytes: size, check: { sha256: hash.digest('hex') } });
        },
      },
      ...CONFIGS.map(([batch, window, workers]): BenchCase => {
        // One pool per case, so a case's idle workers are its own and `--only` on one case works alone.
        let pool: HashPool | undefined;
        const ready = (): HashPool => {
          pool ??= createHashPool({ size: workers });
          return pool;
        };
        return {
          name: `batch-${batch}m-window-${window}m-${workers}w`,
          description: `dual hasher, ${batch} MiB batches, ${window} MiB window, ${workers} worker(s)`,
          async setup() {
            await feed(ready(), batch, window, 16 * MiB); // start the workers and warm up, untimed
          },
          async run() {
            return { bytes: size, check: { sha256: await feed(ready(), batch, window, size) } };
          },
          async teardown() {
            await pool?.close();
          },
        };
      }),
    ];
  },
};
