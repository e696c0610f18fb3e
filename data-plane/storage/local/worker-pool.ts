/**
 * A few worker threads that run blocking file-system calls for the local backend (`publish-worker.js`
 * publishes objects, `read-worker.js` reads small ones), so the main thread spends one message per batch
 * of objects instead of several promise-based calls, each a thread-pool round trip, per object.
 *
 * Workers start on first use; a pool is shared by every local backend of the process (requests carry
 * their root). A request goes to the worker with the least work in flight (`weight`: objects). A worker
 * keeps the process alive only while it has requests in flight. A worker that dies fails its requests
 * with `unavailable` and is replaced on the next request.
 */
import { Worker, type TransferListItem } from 'node:worker_threads';
import { StorageError } from '../errors.ts';

/** A request as posted: the pool adds the `id` its reply carries back. */
export interface PooledRequest {
  readonly id: number;
}

/** A reply: the `id` of its request. */
export interface PooledReply {
  readonly id: number;
}

/** Sends requests to a pool's workers. */
export interface WorkerPool<Request extends PooledRequest, Reply extends PooledReply> {
  /**
   * Posts `request` (with a fresh id) to the least busy worker; resolves with its reply, rejects with
   * `unavailable` when the worker fails, `internal` when the request cannot be posted (not cloneable).
   */
  run(request: Omit<Request, 'id'>, weight: number, transfer?: readonly TransferListItem[]): Promise<Reply>;
}

interface Slot<Reply> {
  worker: Worker | undefined;
  /** Work in flight on this worker (sum of weights). */
  load: number;
  readonly waiting: Map<number, { resolve(reply: Reply): void; reject(error: StorageError): void; weight: number }>;
}

/** A pool of `size` workers running `url` (plain JavaScript, named `<name>-<index>`). */
export function createWorkerPool<Request extends PooledRequest, Reply extends PooledReply>(url: URL, name: string, size: number): WorkerPool<Request, Reply> {
  const slots: Slot<Reply>[] = Array.from({ length: size }, () => ({ worker: undefined, load: 0, waiting: new Map() }));
  let nextId = 1;

  const spawn = (slot: Slot<Reply>, index: number): Worker => {
    // execArgv: [] so the worker does not inherit `--import tsx` or test-runner flags (plain JavaScript).
    const worker = new Worker(url, { name: `${name}-${index}`, execArgv: [] });
    worker.unref();
    const gone = (error: StorageError): void => {
      if (slot.worker !== worker) return;
      slot.worker = undefined;
      slot.load = 0;
      const waiting = [...slot.waiting.values()];
      slot.waiting.clear();
      for (const request of waiting) request.reject(error);
    };
    worker.on('message', (reply: Reply) => {
      const request = slot.waiting.get(reply.id);
      if (request === undefined) return;
      slot.waiting.delete(reply.id);
      slot.load -= request.weight;
      if (slot.waiting.size === 0) worker.unref();
      request.resolve(reply);
    });
    worker.on('error', (cause) => gone(new StorageError('unavailable', `local storage: ${name} ${index} crashed: ${cause.message}`, { cause })));
    worker.on('exit', (code) => gone(new StorageError('unavailable', `local storage: ${name} ${index} exited with code ${code}`)));
    return worker;
  };

  return {
    run(request, weight, transfer) {
      let index = 0;
      for (let i = 1; i < slots.length; i++) if ((slots[i] as Slot<Reply>).load < (slots[index] as Slot<Reply>).load) index = i;
      const slot = slots[index] as Slot<Reply>;
      const worker = (slot.worker ??= spawn(slot, index));
      const id = nextId++;
      return new Promise((resolve, reject) => {
        // Posted first: a message that cannot be sent (a detached buffer...) must leave nothing registered.
        try {
          worker.postMessage({ ...request, id }, transfer);
        } catch (error) {
          reject(new StorageError('internal', `local storage: a request to ${name} ${index} could not be posted: ${error instanceof Error ? error.message : String(error)}`, { cause: error }));
          return;
        }
        slot.waiting.set(id, { resolve, reject, weight });
        slot.load += weight;
        worker.ref();
      });
    },
  };
}
