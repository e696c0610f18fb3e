/**
 * ListPackages: packages in a tenant scope, newest first (package ids are ULIDs, so id order is
 * creation order), filtered, with keyset pagination on the id. Metadata filters use jsonb
 * containment (`metadata @> {"key": value}`, served by the GIN index) plus an equality check for
 * arrays and objects, where containment alone would also match supersets.
 */
import { sql, type Kysely } from 'kysely';
import type { JsonValue } from '../../core/manifest/manifest.ts';
import type { PackageStatus, Schema } from '../db/schema.ts';
import { decodePageToken, encodePageToken, filterFingerprint, pageSize } from './page-token.ts';
import { toPackageRecord, type PackageRecord } from './records.ts';
import { ALL_TENANTS, type TenantScope } from './scope.ts';
import { checkLabel } from './validation.ts';

/** Filters of a package listing; every given filter must match. */
export interface ListPackagesFilter {
  readonly producer?: string;
  readonly subject?: string;
  readonly retentionClass?: string;
  readonly status?: PackageStatus;
  /** Top-level metadata keys and the JSON value each must equal. */
  readonly metadata?: readonly { readonly key: string; readonly value: JsonValue }[];
  /** Only packages the sweep marked eligible for deletion (true) or not (false). */
  readonly deletionEligible?: boolean;
  /** Only packages expiring strictly before this instant (never-expiring packages never match). */
  readonly expiresBefore?: Date;
  /** Only packages with (true) or without (false) an active hold. */
  readonly onHold?: boolean;
}

/** Paging of a listing. */
export interface PageRequest {
  /** 0 or undefined: the default size. */
  readonly pageSize?: number;
  /** From a previous page's `nextPageToken`. */
  readonly pageToken?: string;
}

/** One page of a listing. */
export interface Page<T> {
  readonly items: T[];
  /** Empty on the last page. */
  readonly nextPageToken: string;
}

/** Lists packages (default 100 per page, at most 1000). */
export async function listPackages(db: Kysely<Schema>, scope: TenantScope, filter: ListPackagesFilter, page: PageRequest): Promise<Page<PackageRecord>> {
  const metadata = (filter.metadata ?? []).map((m) => ({ key: checkLabel('metadata filter key', m.key), value: m.value }));
  const fingerprint = filterFingerprint({ t: scope === ALL_TENANTS ? '*' : `t:${scope}`, ...filter });
  const after = decodePageToken(page.pageToken, fingerprint);
  const limit = pageSize(page.pageSize, 100, 1000);
  let q = db
    .selectFrom('packages')
    .leftJoin('retention_state', 'retention_state.package_id', 'packages.package_id')
    .selectAll('packages')
    .select('retention_state.expires_at')
    .orderBy('packages.package_id', 'desc')
    .limit(limit + 1);
  if (scope !== ALL_TENANTS) q = q.where('packages.tenant', '=', scope);
  if (after !== undefined) q = q.where('packages.package_id', '<', after);
  if (filter.producer !== undefined && filter.producer !== '') q = q.where('packages.producer', '=', filter.producer);
  if (filter.subject !== undefined && filter.subject !== '') q = q.where('packages.subject', '=', filter.subject);
  if (filter.retentionClass !== undefined && filter.retentionClass !== '') q = q.where('packages.retention_class', '=', filter.retentionClass);
  if (filter.status !== undefined) q = q.where('packages.status', '=', filter.status);
  if (filter.deletionEligible !== undefined) q = q.where('retention_state.deletion_eligible', '=', filter.deletionEligible);
  if (filter.expiresBefore !== undefined) q = q.where('retention_state.expires_at', '<', filter.expiresBefore);
  if (filter.onHold !== undefined) q = q.where('retention_state.active_holds', filter.onHold ? '>' : '=', 0);
  for (const { key, value } of metadata) {
    q = q.where(sql<boolean>`packages.metadata @> ${JSON.stringify({ [key]: value })}::jsonb`);
    if (value !== null && typeof value === 'object') q = q.where(sql<boolean>`packages.metadata -> ${key} = ${JSON.stringify(value)}::jsonb`);
  }
  const rows = await q.execute();
  const items = rows.slice(0, limit).map(toPackageRecord);
  const last = items.at(-1);
  return { items, nextPageToken: rows.length > limit && last !== undefined ? encodePageToken(last.packageId, fingerprint) : '' };
}
