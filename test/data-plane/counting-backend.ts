// A StorageBackend wrapper that counts the bytes going through writers and reads, and how many reads
// are still open, so tests can see that bytes stream (and stop) rather than guess from timings.
import type { StorageBackend, StorageWriter } from '../../data-plane/storage/backend.ts';

/** Live counters of a {@link countingBackend}. */
export interface ByteCounters {
  /** Bytes accepted by `write` across all writers. */
  written: number;
  /** Bytes yielded by `get` iterations and returned by `getObjects`. */
  read: number;
  /** `get` iterations started and not yet finished or returned. */
  openReads: number;
}

/** Wraps `inner`; `counters` update as bytes move. */
export function countingBackend(inner: StorageBackend): { backend: StorageBackend; counters: ByteCounters } {
  const counters: ByteCounters = { written: 0, read: 0, openReads: 0 };
  const backend: StorageBackend = {
    id: inner.id,
    async createWriter(options) {
      const writer = await inner.createWriter(options);
      const counted: StorageWriter = {
        get size() {
          return writer.size;
        },
        async write(chunk) {
          await writer.write(chunk);
          counters.written += chunk.byteLength;
        },
        commit: (key, o) => writer.commit(key, o),
        cancel: () => writer.cancel(),
      };
      return counted;
    },
    async putObjects(objects, options) {
      const results = await inner.putObjects(objects, options);
      for (const { bytes } of objects) counters.written += bytes.byteLength;
      return results;
    },
    async get(key, options) {
      const source = await inner.get(key, options);
      return (async function* () {
        counters.openReads++;
        try {
          for await (const chunk of source) {
            counters.read += chunk.byteLength;
            yield chunk;
          }
        } finally {
          counters.openReads--;
        }
      })();
    },
    async getObjects(objects, options) {
      const results = await inner.getObjects(objects, options);
      for (const bytes of results) counters.read += bytes.byteLength;
      return results;
    },
    head: (key, options) => inner.head(key, options),
    delete: (key, options) => inner.delete(key, options),
    list: (prefix, options) => inner.list(prefix, options),
    health: (options) => inner.health(options),
    settle: () => inner.settle(),
  };
  return { backend, counters };
}
