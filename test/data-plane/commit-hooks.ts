/**
 * A backend wrapper for forcing races: before the next commit of a key that starts with a hook's prefix,
 * that hook runs (once) and the commit waits for it. E.g. an abort run just before a part lands, or a
 * second completion run after the first has hashed the parts but before it stores the object.
 */
import type { StorageBackend } from '../../data-plane/storage/backend.ts';
import { wrapWriters } from './wrap-writers.ts';

/** Hooks by key prefix; each is removed when it runs. */
export type CommitHooks = Map<string, () => Promise<void>>;

/** Wraps `inner` so that its writers' commits run the matching hook of `hooks` first. */
export function withCommitHooks(inner: StorageBackend, hooks: CommitHooks): StorageBackend {
  return wrapWriters(inner, (writer) => ({
    async commit(key, commitOptions) {
      for (const [prefix, hook] of hooks) {
        if (!key.startsWith(prefix)) continue;
        hooks.delete(prefix);
        await hook();
      }
      return writer.commit(key, commitOptions);
    },
  }));
}
