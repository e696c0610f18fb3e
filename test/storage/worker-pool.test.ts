/**
 * The local backend's worker pool (`worker-pool.ts`, behind the publish and read workers): replies reach
 * their requests, work goes to the least busy worker, a worker that crashes or exits fails exactly the
 * requests it held with `unavailable` and is replaced on the next request, and a request that cannot be
 * posted leaves nothing behind.
 */
import { describe, expect, it } from 'vitest';
import { StorageError } from '../../data-plane/storage/errors.ts';
import { createWorkerPool, type PooledReply, type PooledRequest } from '../../data-plane/storage/local/worker-pool.ts';

interface ScriptedRequest extends PooledRequest {
  readonly action: 'echo' | 'delay' | 'throw' | 'exit';
  readonly value?: unknown;
}

interface ScriptedReply extends PooledReply {
  readonly value: unknown;
  readonly threadId: number;
}

const WORKER = new URL('./fixtures/scripted-worker.js', import.meta.url);

function pool(size: number) {
  return createWorkerPool<ScriptedRequest, ScriptedReply>(WORKER, 'scripted-worker', size);
}

async function rejection(promise: Promise<unknown>): Promise<StorageError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StorageError);
  return error as StorageError;
}

describe('worker pool', () => {
  it('answers each request with its own reply, many in flight', async () => {
    const workers = pool(2);
    const replies = await Promise.all(Array.from({ length: 50 }, (_, i) => workers.run({ action: 'echo', value: i }, 1)));
    expect(replies.map((reply) => reply.value)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    // Both workers took a share.
    expect(new Set(replies.map((reply) => reply.threadId)).size).toBe(2);
  });

  it('sends a request to the worker with the least work in flight', async () => {
    const workers = pool(2);
    // In flight for long enough on a loaded machine; checked below.
    const heavy = workers.run({ action: 'delay', value: 3000 }, 10);
    let heavyDone = false;
    void heavy.then(() => (heavyDone = true));
    const light = await workers.run({ action: 'echo', value: 'light' }, 1);
    const next = await workers.run({ action: 'echo', value: 'next' }, 1);
    // Both went to the worker without the heavy request, which is still in flight.
    expect(heavyDone).toBe(false);
    expect(next.threadId).toBe(light.threadId);
    const heavier = workers.run({ action: 'delay', value: 100 }, 20);
    // Now the heavy worker holds less (10 against 20): the next request goes there.
    const there = await workers.run({ action: 'echo', value: 'there' }, 1);
    expect(heavyDone).toBe(false);
    expect(there.threadId).not.toBe(light.threadId);
    expect((await heavy).threadId).toBe(there.threadId);
    expect((await heavier).threadId).toBe(light.threadId);
  });

  it('fails exactly the requests of a worker that crashes, and replaces it on the next request', async () => {
    const workers = pool(1);
    const first = await workers.run({ action: 'echo', value: 'before' }, 1);
    const held = workers.run({ action: 'delay', value: 60_000 }, 1);
    const crash = workers.run({ action: 'throw' }, 1);
    for (const failed of [await rejection(held), await rejection(crash)]) {
      expect(failed.code).toBe('unavailable');
      expect(failed.message).toMatch(/scripted-worker 0 crashed: scripted crash/);
    }
    const after = await workers.run({ action: 'echo', value: 'after' }, 1);
    expect(after.value).toBe('after');
    expect(after.threadId).not.toBe(first.threadId);
  });

  it('fails the requests of a worker that exits, naming its exit code, and replaces it', async () => {
    const workers = pool(1);
    const held = workers.run({ action: 'delay', value: 60_000 }, 1);
    const exit = workers.run({ action: 'exit' }, 1);
    for (const failed of [await rejection(held), await rejection(exit)]) {
      expect(failed.code).toBe('unavailable');
      expect(failed.message).toMatch(/scripted-worker 0 exited with code 3/);
    }
    expect((await workers.run({ action: 'echo', value: 'again' }, 1)).value).toBe('again');
  });

  it('leaves nothing behind when a request cannot be posted', async () => {
    const workers = pool(2);
    // With both idle, a request goes to the first worker.
    const first = await workers.run({ action: 'echo', value: 'first' }, 1);
    // A function cannot be cloned: postMessage throws, and the request fails as a StorageError.
    const refused = await rejection(workers.run({ action: 'echo', value: () => 1 }, 5));
    expect(refused.code).toBe('internal');
    expect(refused.message).toMatch(/could not be cloned/);
    // No phantom work was counted on the first worker: it is still the one a request goes to.
    expect((await workers.run({ action: 'echo', value: 'ok' }, 1)).threadId).toBe(first.threadId);
  });
});
