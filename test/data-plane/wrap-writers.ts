/**
 * A backend whose writers are the inner backend's, with some methods replaced: the base of the test
 * wrappers that hold a write or a commit back (`commit-hooks.ts`, the gated backend of the gRPC fast
 * path's backpressure test).
 */
import type { StorageBackend, StorageWriter } from '../../data-plane/storage/backend.ts';

/** The writer methods a wrapper may replace; `writer` is the inner backend's own. */
export type WriterOverrides = (writer: StorageWriter) => Partial<Pick<StorageWriter, 'write' | 'commit' | 'cancel'>>;

/** Wraps `inner` so that each of its writers gets the methods `override` returns (its own for the rest). */
export function wrapWriters(inner: StorageBackend, override: WriterOverrides): StorageBackend {
  return {
    ...inner,
    async createWriter(options) {
      const writer = await inner.createWriter(options);
      const replaced = override(writer);
      return {
        get size() {
          return writer.size;
        },
        write: replaced.write ?? ((chunk) => writer.write(chunk)),
        commit: replaced.commit ?? ((key, commitOptions) => writer.commit(key, commitOptions)),
        cancel: replaced.cancel ?? (() => writer.cancel()),
      };
    },
  };
}
