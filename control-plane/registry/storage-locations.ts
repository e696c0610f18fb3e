/**
 * Storage locations as the control plane records them (`storage_locations`: which backend holds which
 * content under which key) and the outcome of verifying them. Listing is a keyset walk over
 * (content_address, backend_id); each check is one event (`v1.storage.location_verified` or
 * `v1.storage.location_failed`) projected into `status` / `verified_at` by the projector, so replay
 * rebuilds the same view.
 */
import { sql, type Kysely } from 'kysely';
import type { Schema } from '../db/schema.ts';
import type { Mutate } from './mutation.ts';
import { decodePageToken, encodePageToken, filterFingerprint, pageSize } from './page-token.ts';
import { RegistryError } from './registry-error.ts';
import { checkDigest, checkLabel } from './validation.ts';

/** One recorded copy. */
export interface LocationRecord {
  readonly contentAddress: string;
  readonly backendId: string;
  readonly storageKey: string;
  readonly size: number;
  /** `sha256:<hex>` of a file with this content; `''` when no file references it any more. */
  readonly sha256: string;
  readonly status: 'stored' | 'verified' | 'failed';
}

/** Why a copy failed verification. */
export const LOCATION_FAILURES = ['missing', 'size-mismatch', 'digest-mismatch'] as const;

/** One of `LOCATION_FAILURES`. */
export type LocationFailure = (typeof LOCATION_FAILURES)[number];

/** The outcome of re-reading one copy. */
export type LocationCheck =
  | { readonly contentAddress: string; readonly backendId: string; readonly ok: true }
  | { readonly contentAddress: string; readonly backendId: string; readonly ok: false; readonly reason: LocationFailure; readonly detail: string };

/** Failed copies, for health reports. */
export interface FailedLocations {
  readonly count: number;
  /** The first few, by content address. */
  readonly sample: readonly LocationRecord[];
}

/** Operations on recorded storage locations. */
export interface StorageLocations {
  /** One page of copies (default 500, at most 5000), optionally of one backend. */
  list(filter: { readonly backendId?: string }, page: { readonly pageToken?: string; readonly pageSize?: number }): Promise<{ items: LocationRecord[]; nextPageToken: string }>;
  /** Records a check as an event; resolves with the copy's new status and the event's sequence. */
  recordCheck(check: LocationCheck): Promise<{ status: 'verified' | 'failed'; sequence: number }>;
  /** How many copies failed their last check, and a few of them. */
  failed(sampleSize?: number): Promise<FailedLocations>;
}

/** Creates the operations over an open database and the mutation runner the events go through. */
export function createStorageLocations(deps: { readonly db: Kysely<Schema>; readonly mutate: Mutate }): StorageLocations {
  const { db, mutate } = deps;

  const select = (q: Kysely<Schema>) =>
    q
      .selectFrom('storage_locations as l')
      .select(['l.content_address', 'l.backend_id', 'l.storage_key', 'l.size', 'l.status'])
      .select((eb) => eb.selectFrom('files as f').select((f) => f.fn.min('f.digest_sha256').as('sha')).whereRef('f.content_address', '=', 'l.content_address').as('sha256'));

  const toRecord = (row: { content_address: string; backend_id: string; storage_key: string; size: number | string; status: LocationRecord['status']; sha256: string | null }): LocationRecord => ({
    contentAddress: row.content_address,
    backendId: row.backend_id,
    storageKey: row.storage_key,
    size: Number(row.size),
    sha256: row.sha256 ?? '',
    status: row.status,
  });

  return {
    async list(filter, page) {
      const backendId = filter.backendId === undefined || filter.backendId === '' ? undefined : checkLabel('backend_id', filter.backendId);
      const fingerprint = filterFingerprint({ storageLocations: backendId ?? '' });
      const after = decodePageToken(page.pageToken, fingerprint);
      const limit = pageSize(page.pageSize, 500, 5000);
      let q = select(db);
      if (backendId !== undefined) q = q.where('l.backend_id', '=', backendId);
      if (after !== undefined) {
        const [address = '', backend = ''] = after.split('\n');
        q = q.where((eb) =>
          eb.or([
            eb(sql`l.content_address COLLATE "C"`, '>', sql`${address} COLLATE "C"`),
            eb.and([eb('l.content_address', '=', address), eb(sql`l.backend_id COLLATE "C"`, '>', sql`${backend} COLLATE "C"`)]),
          ]),
        );
      }
      // COLLATE "C": byte order, the same on PGlite and PostgreSQL whatever the database locale.
      const rows = await q
        .orderBy(sql`l.content_address COLLATE "C"`)
        .orderBy(sql`l.backend_id COLLATE "C"`)
        .limit(limit + 1)
        .execute();
      const items = rows.slice(0, limit).map(toRecord);
      const last = items.at(-1);
      return { items, nextPageToken: rows.length > limit && last !== undefined ? encodePageToken(`${last.contentAddress}\n${last.backendId}`, fingerprint) : '' };
    },

    async recordCheck(check) {
      const contentAddress = checkDigest('content_address', check.contentAddress, 'blake3');
      const backendId = checkLabel('backend_id', check.backendId);
      return mutate(async (trx, emit) => {
        const row = await trx.selectFrom('storage_locations').select(['storage_key', 'size']).where('content_address', '=', contentAddress).where('backend_id', '=', backendId).forUpdate().executeTakeFirst();
        if (row === undefined) throw new RegistryError('not-found', `no copy of ${contentAddress} is recorded on backend ${backendId}`);
        if (check.ok) {
          const event = await emit({ type: 'v1.storage.location_verified', payload: { content_address: contentAddress, backend_id: backendId, storage_key: row.storage_key, size: Number(row.size) } });
          return { status: 'verified' as const, sequence: event.sequence };
        }
        if (!(LOCATION_FAILURES as readonly string[]).includes(check.reason)) throw new RegistryError('invalid-argument', `reason must be one of ${LOCATION_FAILURES.join(', ')}`);
        const detail = check.detail.slice(0, 1000);
        const event = await emit({ type: 'v1.storage.location_failed', payload: { content_address: contentAddress, backend_id: backendId, storage_key: row.storage_key, reason: check.reason, detail } });
        return { status: 'failed' as const, sequence: event.sequence };
      });
    },

    async failed(sampleSize = 20) {
      const counted = await db.selectFrom('storage_locations').select((eb) => eb.fn.countAll<string | number>().as('n')).where('status', '=', 'failed').executeTakeFirstOrThrow();
      const rows = await select(db).where('l.status', '=', 'failed').orderBy(sql`l.content_address COLLATE "C"`).limit(sampleSize).execute();
      return { count: Number(counted.n), sample: rows.map(toRecord) };
    },
  };
}
