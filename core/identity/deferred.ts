/**
 * A promise with its settle functions, for replies that arrive as events (worker messages, freed buffers).
 * `Promise.withResolvers` does the same but needs Node 22 and the ES2024 lib; this project targets Node 20.
 */

/** A pending promise plus the functions that settle it. */
export interface Deferred<T> {
  /** Settles when `resolve` or `reject` is called. */
  readonly promise: Promise<T>;
  /** Fulfils `promise`. Later calls to either function are ignored. */
  readonly resolve: (value: T) => void;
  /** Rejects `promise`. Later calls to either function are ignored. */
  readonly reject: (reason: unknown) => void;
}

/** Creates an unsettled deferred. */
export function createDeferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
