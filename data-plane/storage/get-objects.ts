/**
 * `StorageBackend.getObjects` for backends without a faster way: one `get` per object, a few at a time,
 * each object gathered whole (the memory and S3 backends use it; the local backend reads a batch in a
 * worker instead).
 */
import type { GetObjectInput, SignalOptions, StorageBackend } from './backend.ts';
import { StorageError, throwIfAborted } from './errors.ts';
import { validateKey } from './keys.ts';
import { runInLanes } from './lanes.ts';
import { validateRangeOptions } from './range.ts';

/** Reads in flight at once. */
const CONCURRENT_READS = 8;

/** Checks every input the way `getObjects` promises, before anything is read. */
export function validateGetObjects(objects: readonly GetObjectInput[], options: SignalOptions): void {
  for (const object of objects) {
    validateKey(object.key);
    // Required here (a range's expectedSize may be absent).
    if (typeof object.expectedSize !== 'number') throw new StorageError('invalid-range', `expected size must be a non-negative integer, got ${String(object.expectedSize)}`);
    validateRangeOptions({ expectedSize: object.expectedSize });
  }
  throwIfAborted(options.signal);
}

/** Reads `objects` through `backend.get`, honouring the `getObjects` contract. */
export async function getObjectsWithGet(backend: Pick<StorageBackend, 'get'>, objects: readonly GetObjectInput[], options: SignalOptions = {}): Promise<Uint8Array[]> {
  validateGetObjects(objects, options);
  const results: Uint8Array[] = objects.map(() => new Uint8Array(0));
  await runInLanes(objects.length, CONCURRENT_READS, async (index) => {
    const { key, expectedSize } = objects[index] as GetObjectInput;
    const bytes = new Uint8Array(expectedSize);
    let at = 0;
    // `get` checks the size before the first byte and refuses a copy that turns out shorter.
    for await (const chunk of await backend.get(key, { expectedSize, ...(options.signal === undefined ? {} : { signal: options.signal }) })) {
      bytes.set(chunk, at);
      at += chunk.byteLength;
    }
    results[index] = bytes;
  });
  return results;
}
