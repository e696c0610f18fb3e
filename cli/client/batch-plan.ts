/**
 * How push and pull split a package's files into requests: a large file travels alone (streamed), small
 * files travel many to a request (a tar archive each way: `POST /packages/{id}/files` up,
 * `POST /packages/{id}/archive` down), so a package of many small files costs few requests, few
 * control-plane calls and few transactions.
 */

/** Files up to this size travel in batches. */
export const BATCH_FILE_BYTES = 1024 * 1024;
/** Most files per batch. */
export const BATCH_MAX_FILES = 250;
/** Most bytes per batch. */
export const BATCH_MAX_BYTES = 16 * 1024 * 1024;

/** One request: a large file on its own, or a batch of small ones. */
export type TransferWork<T> = { readonly kind: 'single'; readonly file: T } | { readonly kind: 'batch'; readonly files: readonly T[] };

/**
 * Splits `files` into requests: each file over `BATCH_FILE_BYTES` alone, the rest in batches of at most
 * `BATCH_MAX_FILES` files and `BATCH_MAX_BYTES` bytes, in the given order.
 */
export function planTransfers<T>(files: readonly T[], sizeOf: (file: T) => number): TransferWork<T>[] {
  const work: TransferWork<T>[] = [];
  let batch: T[] = [];
  let batchBytes = 0;
  const flush = (): void => {
    if (batch.length > 0) work.push({ kind: 'batch', files: batch });
    batch = [];
    batchBytes = 0;
  };
  for (const file of files) {
    const size = sizeOf(file);
    if (size > BATCH_FILE_BYTES) {
      work.push({ kind: 'single', file });
      continue;
    }
    if (batch.length >= BATCH_MAX_FILES || batchBytes + size > BATCH_MAX_BYTES) flush();
    batch.push(file);
    batchBytes += size;
  }
  flush();
  return work;
}
