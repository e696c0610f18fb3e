/** The error a promise rejects with, checked to be an instance of `type` (a fulfilled promise fails the test). */
import { expect } from 'vitest';

export async function rejectionOf<E extends Error>(promise: Promise<unknown>, type: abstract new (...args: never[]) => E): Promise<E> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, `expected a rejection with a ${type.name}`).toBeInstanceOf(type);
  return error as E;
}
