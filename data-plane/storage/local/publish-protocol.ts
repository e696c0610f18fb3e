/**
 * Messages between the local backend (`publish-pool.ts`) and its publish workers (`publish-worker.js`).
 *
 * A request publishes objects under a local root: for each item the worker makes the staged bytes
 * durable (fsync), creates the key's parent directories, hard-links the staged file to the object path
 * (never replacing an existing object) and syncs every directory entry it created. It answers with one
 * result per item, in order.
 */

/** Where the objects go; every path is absolute and was derived from validated keys by the caller. */
export interface PublishRoot {
  /** The root as configured, resolved. */
  readonly root: string;
  /** The root's real path (symlinks resolved), which every object directory must lie under. */
  readonly realRoot: string;
  /** `<root>/.staging`, where the worker stages bytes sent in memory. */
  readonly stagingDirectory: string;
}

/** One object to publish: its key, its path, and its bytes (already staged, or in memory). */
export interface PublishItem {
  readonly key: string;
  /** `<root>/<key>`. */
  readonly target: string;
  /** The directory names from the root down to the object's parent (the key's segments but the last). */
  readonly parents: readonly string[];
  /** A staged file written by the caller (the worker syncs and links it; the caller removes the name)... */
  readonly stagedPath?: string;
  /** ...or the whole object, staged by the worker (which removes its staging name afterwards). */
  readonly bytes?: Uint8Array;
  /**
   * The object's size. An object already stored under the key with another size is a damaged copy
   * (content addressing: the same key means the same bytes): refused with `integrity`, never taken for
   * "already there".
   */
  readonly size: number;
  /**
   * Replace an object of another size already stored under the key (a damaged copy) with this item's
   * bytes, atomically (rename(2) over it), instead of refusing it: the caller verified the bytes are the
   * key's (`CommitOptions.replaceDamaged`).
   */
  readonly replaceDamaged?: boolean;
}

/** A request; `id` pairs it with its reply. */
export interface PublishRequest extends PublishRoot {
  readonly id: number;
  readonly items: readonly PublishItem[];
}

/** Why an item failed: a system error (`errno`), or a refusal the worker decided itself (`storageCode`). */
export interface PublishFailure {
  readonly errno?: string;
  readonly syscall?: string;
  readonly storageCode?: 'invalid-key' | 'integrity' | 'unavailable';
  readonly message: string;
}

/** The outcome of one item. */
export type PublishResult = { readonly ok: true; readonly created: boolean; readonly repaired?: true } | { readonly ok: false; readonly failure: PublishFailure };

/** The reply to a request. */
export interface PublishReply {
  readonly id: number;
  readonly results: readonly PublishResult[];
}
