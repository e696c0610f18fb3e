/**
 * The rows a `v1.file.added` event puts into the views (`files`, `storage_locations`), shared by the
 * projector's one-event handler and its batch path so both write identical rows.
 */
import type { Insertable, Transaction } from 'kysely';
import type { Schema } from '../db/schema.ts';
import type { StoredEvent } from './event-log.ts';
import { asMap, type CborMap } from './event-types.ts';

/** A decoded `v1.file.added` event. */
export interface FileAdded {
  readonly packageId: string;
  /** The file id this addition replaces, or null. */
  readonly replaces: string | null;
  readonly payload: CborMap;
  readonly file: Insertable<Schema['files']> & { readonly size: number };
  readonly location: Insertable<Schema['storage_locations']>;
}

/** A text field of an event payload. */
export function text(map: CborMap, key: string): string {
  const v = map[key];
  if (typeof v !== 'string') throw new TypeError(`event field ${key} must be text`);
  return v;
}

/** A safe-integer field of an event payload. */
export function integer(map: CborMap, key: string): number {
  const v = map[key];
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new TypeError(`event field ${key} must be an integer`);
  return v;
}

/** Decodes the rows of a `v1.file.added` event with payload `p`. */
export function fileAdded(event: StoredEvent, p: CborMap): FileAdded {
  const packageId = text(p, 'package_id');
  const size = integer(p, 'size');
  const digests = asMap(p['digests'], 'digests');
  const storage = asMap(p['storage'], 'storage');
  const contentAddress = text(digests, 'blake3');
  const backendId = text(storage, 'backend_id');
  const replaces = p['replaces_file_id'];
  if (replaces !== null && replaces !== undefined && typeof replaces !== 'string') throw new TypeError('event field replaces_file_id must be text or null');
  return {
    packageId,
    replaces: replaces ?? null,
    payload: p,
    file: {
      file_id: text(p, 'file_id'),
      package_id: packageId,
      relative_path: text(p, 'relative_path'),
      size,
      media_type: text(p, 'media_type'),
      digest_algorithm: 'blake3',
      digest_primary: contentAddress,
      digest_sha256: text(digests, 'sha256'),
      content_address: contentAddress,
      backend_id: backendId,
      created_at: event.occurredAt,
      created_sequence: event.sequence,
    },
    location: {
      content_address: contentAddress,
      backend_id: backendId,
      storage_key: text(storage, 'storage_key'),
      size,
      retrieval_tier: 'hot',
      restore_status: 'available',
      status: 'stored',
      stored_at: event.occurredAt,
      verified_at: null,
    },
  };
}

/** Rows per multi-row INSERT (at most 12 parameters each). */
const CHUNK = 500;

/**
 * Inserts the files and their storage locations, in order. A location already recorded (same content
 * on the same backend) keeps its first row: the earliest event wins, live and in replay alike.
 */
export async function insertFiles(trx: Transaction<Schema>, added: readonly FileAdded[]): Promise<void> {
  for (let i = 0; i < added.length; i += CHUNK) {
    const slice = added.slice(i, i + CHUNK);
    await trx.insertInto('files').values(slice.map((a) => a.file)).execute();
    await trx
      .insertInto('storage_locations')
      .values(slice.map((a) => a.location))
      .onConflict((oc) => oc.columns(['content_address', 'backend_id']).doNothing())
      .execute();
  }
}
