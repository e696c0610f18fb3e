/**
 * Retention operations of the registry: extend, hold, release, read, history and the eligibility
 * sweep. Each change is one transaction that locks the package row first (then, through `emit`, the
 * log head: always in that order, so retention writers cannot deadlock with each other or with the
 * sweep), re-reads the retention view under that lock, validates, and emits events the projector
 * applies. Rules (docs/adr/0009-retention-eligibility.md):
 *
 * - the expiry only ever moves strictly later; `permanent-record` (no expiry) cannot be extended;
 * - any active hold keeps a package ineligible; holds are independent;
 * - the sweep marks a package eligible (`v1.retention.deletion_eligible`) when its expiry is at or
 *   before `as_of` and it has no active hold, once per transition;
 * - a hold applied to, or an extension past now of, an eligible package makes it ineligible in the
 *   same transaction (`v1.retention.deletion_ineligible`), so the view never shows a held package
 *   as eligible.
 *
 * Nothing here deletes bytes.
 */
import type { Kysely, Selectable, Transaction } from 'kysely';
import { formatTimestamp, type Clock } from '../../core/time/clock.ts';
import type { HoldsTable, RetentionStateTable, Schema } from '../db/schema.ts';
import { readEvents, type StoredEvent } from '../events/event-log.ts';
import { RETENTION_EVENT_PREFIX } from '../events/event-types.ts';
import type { IdGenerator } from './ids.ts';
import type { Mutate } from './mutation.ts';
import { RegistryError } from './registry-error.ts';
import { ALL_TENANTS, inScope, type TenantScope } from './scope.ts';
import { checkLabel } from './validation.ts';

/** A hold as the registry reports it. */
export interface HoldRecord {
  readonly holdId: string;
  readonly packageId: string;
  readonly reason: string;
  readonly actor: string;
  readonly appliedAt: string;
  readonly releasedAt: string | null;
  readonly releasedBy: string | null;
  readonly releaseReason: string | null;
}

/** The retention state of a package. */
export interface RetentionRecord {
  readonly packageId: string;
  readonly retentionClass: string;
  /** Null: never expires. */
  readonly expiresAt: string | null;
  /** Active holds, oldest first. */
  readonly holds: HoldRecord[];
  readonly deletionEligible: boolean;
  readonly eligibleSince: string | null;
}

/** Input of `extendRetention`. */
export interface ExtendRetentionInput {
  readonly tenant: TenantScope;
  readonly packageId: string;
  /** Must be strictly later than the current expiry. */
  readonly newExpiresAt: Date | undefined;
  readonly reason: string;
  /** Who asks (the token's name). */
  readonly actor: string;
}

/** Input of `applyHold`. */
export interface ApplyHoldInput {
  readonly tenant: TenantScope;
  readonly packageId: string;
  readonly reason: string;
  readonly actor: string;
}

/** Input of `releaseHold`. */
export interface ReleaseHoldInput extends ApplyHoldInput {
  readonly holdId: string;
}

/** Input of `sweepRetention`. */
export interface SweepInput {
  /** Evaluate expiry as of this instant (default: the clock's now); later than now requires `dryRun`. */
  readonly asOf?: Date | undefined;
  /** Report, write nothing. */
  readonly dryRun?: boolean;
  readonly signal?: AbortSignal;
}

/** What a sweep did (or would do). */
export interface SweepResult {
  /** Packages marked eligible, in id order. */
  readonly newlyEligible: string[];
  /**
   * Packages found no longer eligible. Always empty with this version's writers: holds and
   * extensions withdraw eligibility in their own transaction (ADR 0009).
   */
  readonly newlyIneligible: string[];
  readonly asOf: string;
  readonly dryRun: boolean;
}

/** The retention operations. */
export interface RetentionOperations {
  /** Moves a package's expiry strictly later. */
  extendRetention(input: ExtendRetentionInput): Promise<{ retention: RetentionRecord }>;
  /** Places a new hold. */
  applyHold(input: ApplyHoldInput): Promise<{ hold: HoldRecord; retention: RetentionRecord }>;
  /** Releases one active hold. */
  releaseHold(input: ReleaseHoldInput): Promise<{ hold: HoldRecord; retention: RetentionRecord }>;
  /** The current retention state. */
  getRetention(tenant: TenantScope, packageId: string): Promise<RetentionRecord>;
  /** The package's retention events in sequence order. */
  getRetentionHistory(tenant: TenantScope, packageId: string): Promise<StoredEvent[]>;
  /** Runs the eligibility sweep once over every tenant. */
  sweepRetention(input: SweepInput): Promise<SweepResult>;
}

/** Dependencies of the retention operations. */
export interface RetentionDeps {
  readonly db: Kysely<Schema>;
  readonly clock: Clock;
  readonly ids: IdGenerator;
  readonly mutate: Mutate;
}

/** Longest accepted reason, in characters. */
const MAX_REASON = 2000;
/** Packages per sweep query page. */
const SWEEP_PAGE = 500;

/** A mandatory free-text reason: non-blank, at most 2000 characters, no control characters but tab/newline. */
export function checkReason(field: string, value: string): string {
  const trimmed = value.trim();
  if (trimmed === '') throw new RegistryError('invalid-argument', `${field} is mandatory`);
  if (trimmed.length > MAX_REASON) throw new RegistryError('invalid-argument', `${field} is longer than ${MAX_REASON} characters`);
  // eslint-disable-next-line no-control-regex -- rejecting control characters is the point.
  if (/[\u0000-\u0008\u000b-\u001f\u007f]/.test(trimmed)) throw new RegistryError('invalid-argument', `${field} must not contain control characters`);
  return trimmed;
}

function ts(d: Date | null): string | null {
  return d === null ? null : formatTimestamp(d);
}

function toHoldRecord(r: Selectable<HoldsTable>): HoldRecord {
  return {
    holdId: r.hold_id,
    packageId: r.package_id,
    reason: r.reason,
    actor: r.actor,
    appliedAt: formatTimestamp(r.applied_at),
    releasedAt: ts(r.released_at),
    releasedBy: r.released_by,
    releaseReason: r.release_reason,
  };
}

/** Creates the retention operations. */
export function createRetention(deps: RetentionDeps): RetentionOperations {
  const { db, clock, ids, mutate } = deps;

  /** Locks the package row (FOR UPDATE) after checking scope; returns its retention row. */
  async function lockRetention(trx: Transaction<Schema>, tenant: TenantScope, packageId: string): Promise<Selectable<RetentionStateTable>> {
    const id = checkLabel('package_id', packageId);
    const pkg = await trx.selectFrom('packages').select('tenant').where('package_id', '=', id).forUpdate().executeTakeFirst();
    if (pkg === undefined || !inScope(tenant, pkg.tenant)) throw new RegistryError('not-found', `package ${packageId} not found`);
    const row = await trx.selectFrom('retention_state').selectAll().where('package_id', '=', id).executeTakeFirst();
    if (row === undefined) throw new RegistryError('not-found', `package ${packageId} has no retention state`);
    return row;
  }

  async function load(q: Kysely<Schema>, tenant: TenantScope, packageId: string): Promise<RetentionRecord> {
    const id = checkLabel('package_id', packageId);
    const row = await q
      .selectFrom('retention_state')
      .innerJoin('packages', 'packages.package_id', 'retention_state.package_id')
      .selectAll('retention_state')
      .select('packages.tenant')
      .where('retention_state.package_id', '=', id)
      .executeTakeFirst();
    if (row === undefined || !inScope(tenant, row.tenant)) throw new RegistryError('not-found', `package ${packageId} not found`);
    const holds = await q.selectFrom('holds').selectAll().where('package_id', '=', id).where('released_at', 'is', null).orderBy('applied_at').orderBy('hold_id').execute();
    return {
      packageId: row.package_id,
      retentionClass: row.retention_class,
      expiresAt: ts(row.expires_at),
      holds: holds.map(toHoldRecord),
      deletionEligible: row.deletion_eligible,
      eligibleSince: ts(row.eligible_since),
    };
  }

  async function loadHold(q: Kysely<Schema>, holdId: string): Promise<HoldRecord> {
    return toHoldRecord(await q.selectFrom('holds').selectAll().where('hold_id', '=', holdId).executeTakeFirstOrThrow());
  }

  return {
    async extendRetention(input) {
      const reason = checkReason('reason', input.reason);
      const target = input.newExpiresAt;
      if (target === undefined || !Number.isFinite(target.getTime())) throw new RegistryError('invalid-argument', 'new_expires_at is mandatory');
      const newExpiresAt = formatTimestamp(target);
      return mutate(async (trx, emit) => {
        const row = await lockRetention(trx, input.tenant, input.packageId);
        if (row.expires_at === null) throw new RegistryError('failed-precondition', `package ${input.packageId} (${row.retention_class}) never expires; its retention cannot be extended`);
        if (target.getTime() <= row.expires_at.getTime()) {
          throw new RegistryError('invalid-argument', `new_expires_at ${newExpiresAt} must be strictly later than the current expiry ${formatTimestamp(row.expires_at)}: retention can only be extended`);
        }
        const packageId = row.package_id;
        await emit({ type: 'v1.retention.extended', payload: { package_id: packageId, previous_expires_at: formatTimestamp(row.expires_at), expires_at: newExpiresAt, reason, actor: input.actor } });
        // An eligible package whose expiry now lies in the future is no longer past its expiry.
        if (row.deletion_eligible && target.getTime() > clock.now().getTime()) {
          await emit({ type: 'v1.retention.deletion_ineligible', payload: { package_id: packageId, cause: 'extended', hold_id: null } });
        }
        return { retention: await load(trx, input.tenant, packageId) };
      });
    },

    async applyHold(input) {
      const reason = checkReason('reason', input.reason);
      const holdId = ids.next('hold');
      return mutate(async (trx, emit) => {
        const row = await lockRetention(trx, input.tenant, input.packageId);
        const packageId = row.package_id;
        await emit({ type: 'v1.retention.hold_applied', payload: { package_id: packageId, hold_id: holdId, reason, actor: input.actor } });
        if (row.deletion_eligible) await emit({ type: 'v1.retention.deletion_ineligible', payload: { package_id: packageId, cause: 'hold_applied', hold_id: holdId } });
        return { hold: await loadHold(trx, holdId), retention: await load(trx, input.tenant, packageId) };
      });
    },

    async releaseHold(input) {
      const reason = checkReason('reason', input.reason);
      const holdId = checkLabel('hold_id', input.holdId);
      return mutate(async (trx, emit) => {
        const row = await lockRetention(trx, input.tenant, input.packageId);
        const packageId = row.package_id;
        const hold = await trx.selectFrom('holds').select(['released_at']).where('hold_id', '=', holdId).where('package_id', '=', packageId).executeTakeFirst();
        if (hold === undefined) throw new RegistryError('not-found', `hold ${holdId} not found on package ${packageId}`);
        if (hold.released_at !== null) throw new RegistryError('failed-precondition', `hold ${holdId} was already released at ${formatTimestamp(hold.released_at)}`);
        await emit({ type: 'v1.retention.hold_released', payload: { package_id: packageId, hold_id: holdId, reason, actor: input.actor } });
        return { hold: await loadHold(trx, holdId), retention: await load(trx, input.tenant, packageId) };
      });
    },

    getRetention: (tenant, packageId) => load(db, tenant, packageId),

    async getRetentionHistory(tenant, packageId) {
      await load(db, tenant, packageId);
      const out: StoredEvent[] = [];
      for (;;) {
        const batch = await readEvents(db, { after: out.at(-1)?.sequence ?? 0, packageId, typePrefix: RETENTION_EVENT_PREFIX, limit: 1000 });
        out.push(...batch);
        if (batch.length < 1000) return out;
      }
    },

    async sweepRetention(input) {
      const now = clock.now();
      const asOf = input.asOf ?? now;
      if (!Number.isFinite(asOf.getTime())) throw new RegistryError('invalid-argument', 'as_of is not a valid time');
      const dryRun = input.dryRun === true;
      if (asOf.getTime() > now.getTime() && !dryRun) {
        throw new RegistryError('invalid-argument', `as_of ${formatTimestamp(asOf)} is later than now (${formatTimestamp(now)}): previewing a future sweep requires dry_run`);
      }
      const asOfText = formatTimestamp(asOf);
      const newlyEligible: string[] = [];
      let after = '';
      for (;;) {
        input.signal?.throwIfAborted();
        const candidates = await db
          .selectFrom('retention_state')
          .select('package_id')
          .where('deletion_eligible', '=', false)
          .where('active_holds', '=', 0)
          .where('expires_at', 'is not', null)
          .where('expires_at', '<=', asOf)
          .where('package_id', '>', after)
          .orderBy('package_id')
          .limit(SWEEP_PAGE)
          .execute();
        for (const { package_id: packageId } of candidates) {
          if (dryRun) {
            newlyEligible.push(packageId);
            continue;
          }
          // One short transaction per package, re-checked under the package lock: a hold or an
          // extension that committed since the scan wins, and two sweeps never mark it twice.
          const marked = await mutate(async (trx, emit) => {
            const row = await lockRetention(trx, ALL_TENANTS, packageId);
            if (row.deletion_eligible || row.active_holds > 0 || row.expires_at === null || row.expires_at.getTime() > asOf.getTime()) return false;
            await emit({ type: 'v1.retention.deletion_eligible', payload: { package_id: packageId, expires_at: formatTimestamp(row.expires_at), as_of: asOfText } });
            return true;
          });
          if (marked) newlyEligible.push(packageId);
        }
        if (candidates.length < SWEEP_PAGE) break;
        after = candidates.at(-1)!.package_id;
      }
      return { newlyEligible, newlyIneligible: [], asOf: asOfText, dryRun };
    },
  };
}
