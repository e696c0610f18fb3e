/**
 * The local backend's read workers (`read-worker.js`, run by `worker-pool.ts`): worker threads that read
 * small objects whole with blocking file-system calls, for `getObjects`.
 */
import type { ReadItem, ReadReply, ReadRequest } from './read-protocol.ts';
import { createWorkerPool } from './worker-pool.ts';

/**
 * Worker threads. Reads of cached objects are CPU work, so about one per core; a cold read blocks its
 * worker on the disk, and the other keeps going.
 */
const WORKERS = 2;

const pool = createWorkerPool<ReadRequest, ReadReply>(new URL('./read-worker.js', import.meta.url), 'read-worker', WORKERS);

/** Reads `items` below `realRoot` in one worker (per-item failures are in the reply's results). */
export function readItems(realRoot: string, items: readonly ReadItem[]): Promise<ReadReply> {
  return pool.run({ realRoot, items }, items.length);
}
