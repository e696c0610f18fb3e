/**
 * `StorageBackend.putObjects` for backends without a faster way: one staged writer per object, a few at
 * a time (the memory and S3 backends use it; the local backend publishes a batch in a worker instead).
 */
import type { CommitOptions, CommitResult, PutObjectInput, StorageBackend } from './backend.ts';
import { throwIfAborted } from './errors.ts';
import { validateKey } from './keys.ts';
import { runInLanes } from './lanes.ts';

/** Writers open at once. */
const CONCURRENT_WRITERS = 8;

/** Stores `objects` through `backend.createWriter`, honouring the `putObjects` contract. */
export async function putObjectsWithWriters(backend: Pick<StorageBackend, 'createWriter'>, objects: readonly PutObjectInput[], options: CommitOptions = {}): Promise<CommitResult[]> {
  for (const object of objects) validateKey(object.key);
  throwIfAborted(options.signal);
  const results: (CommitResult | undefined)[] = objects.map(() => undefined);
  // Same key twice: the later copy waits for the first one's commit (then finds the object stored).
  const byKey = new Map<string, Promise<unknown>>();
  const store = async (index: number): Promise<void> => {
    const object = objects[index] as PutObjectInput;
    const earlier = byKey.get(object.key);
    const done = (async () => {
      await earlier?.catch(() => undefined);
      const writer = await backend.createWriter(options.signal === undefined ? {} : { signal: options.signal });
      try {
        await writer.write(object.bytes);
        results[index] = await writer.commit(object.key, options);
      } finally {
        await writer.cancel();
      }
    })();
    byKey.set(object.key, done);
    await done;
  };
  await runInLanes(objects.length, CONCURRENT_WRITERS, store);
  return results.map((result) => result ?? { created: false });
}
