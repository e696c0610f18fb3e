/**
 * Messages between the local backend's `getObjects` (`read-pool.ts`) and its read workers
 * (`read-worker.js`).
 *
 * A request reads whole objects under a local root: for each item the worker opens the object path
 * (never through a symlink), checks that its directory lies inside the root, that it is a regular file of
 * the expected size, and reads it whole. The bytes of every item that was read come back in one
 * transferred buffer, item after item; a reply says per item where its bytes are or why it failed.
 */

/** One object to read. */
export interface ReadItem {
  /** `<root>/<key>`, derived from a validated key by the caller. */
  readonly target: string;
  /** The size the caller expects; another size is a damaged copy, refused before reading. */
  readonly size: number;
}

/** A request; `id` pairs it with its reply. */
export interface ReadRequest {
  readonly id: number;
  /** The root's real path (symlinks resolved), which every object's directory must lie under. */
  readonly realRoot: string;
  readonly items: readonly ReadItem[];
}

/** Why an item failed: absent, a refusal the worker decided itself, or a system error. */
export type ReadFailure =
  | { readonly kind: 'absent' }
  | { readonly kind: 'integrity'; readonly message: string }
  | { readonly kind: 'system'; readonly errno?: string; readonly syscall?: string; readonly message: string };

/** The outcome of one item: its bytes at `offset` of the reply's buffer (`size` long), or a failure. */
export type ReadResult = { readonly ok: true; readonly offset: number } | { readonly ok: false; readonly failure: ReadFailure };

/** The reply to a request: the items' bytes, one after another, and one result per item. */
export interface ReadReply {
  readonly id: number;
  readonly bytes: ArrayBuffer;
  readonly results: readonly ReadResult[];
}
