// Small assertions shared by the storage tests.
import { assert, expect } from 'vitest';
import { StorageError, type StorageErrorCode } from '../../data-plane/storage/errors.ts';

/**
 * Awaits `action`, requires it to reject with a StorageError of `code`, and returns that error. Takes a
 * promise, not a function, so a method that throws synchronously instead of rejecting fails the test.
 */
export async function expectStorageError(action: Promise<unknown>, code: StorageErrorCode): Promise<StorageError> {
  const error = await action.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  assert.instanceOf(error, StorageError, `expected a StorageError with code ${code}`);
  expect(error.code).toBe(code);
  return error;
}

/** Collects an async iterable into an array. */
export async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

/** Pulls from `iterator` until it is done, discarding the values; rejects with whatever the iteration throws. */
export async function drain(iterator: AsyncIterator<unknown>): Promise<void> {
  while (!(await iterator.next()).done);
}
