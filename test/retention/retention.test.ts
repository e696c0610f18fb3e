/**
 * Retention through the registry on every dialect, time moved with a manual clock: configured
 * defaults, extend-only changes, independent holds, the sweep's once-per-transition eligibility,
 * withdrawal of eligibility by a hold or an extension, rejections that write nothing, listing
 * filters, history, and replay rebuilding the same views.
 */
import { expect, it } from 'vitest';
import { createManualClock } from '../../core/time/clock.ts';
import { BUILTIN_RETENTION_POLICY, RETENTION_CLASSES, type RetentionPolicy } from '../../control-plane/config/operator-config.ts';
import { readEvents } from '../../control-plane/events/event-log.ts';
import { dumpViews, replay } from '../../control-plane/events/replay.ts';
import { createRegistry, type Registry } from '../../control-plane/registry/registry.ts';
import { describeEachDialect } from '../db/test-database.ts';
import { decodeCanonical } from '../../core/cbor/canonical.ts';

const DAY = 86_400_000;
const START = new Date('2026-11-23T09:00:00.000Z');

describeEachDialect('retention', (get) => {
  const clock = createManualClock(START);
  const registry = (policy?: RetentionPolicy): Registry => createRegistry({ db: get().db, clock, ...(policy === undefined ? {} : { retentionPolicy: policy }) });
  const events = () => readEvents(get().db, { after: 0, limit: 100_000 });
  const typesOf = async (packageId: string) => (await readEvents(get().db, { after: 0, packageId, limit: 10_000 })).map((e) => e.type);

  it('keeps the built-in defaults equal to the seeded retention classes', async () => {
    const rows = await get().db.selectFrom('retention_classes').select(['name', 'default_retention_days']).orderBy('sort_order').execute();
    expect(rows.map((r) => r.name)).toEqual([...RETENTION_CLASSES]);
    for (const r of rows) {
      const builtin = BUILTIN_RETENTION_POLICY[r.name as (typeof RETENTION_CLASSES)[number]];
      expect(builtin.kind === 'never' ? null : builtin.ms / DAY, r.name).toBe(r.default_retention_days);
    }
  });

  it('applies the configured class duration at creation; a later configuration never rewrites it', async () => {
    clock.set(START);
    const short: RetentionPolicy = { ...BUILTIN_RETENTION_POLICY, 'release-evidence': { kind: 'duration', ms: 10_000 } };
    const pkg = await registry(short).createPackage({ tenant: 'ci', producer: 'p', subject: 's', retentionClass: 'release-evidence' });
    expect(pkg.expiresAt).toBe('2026-11-23T09:00:10.000Z');
    const applied = (await readEvents(get().db, { after: 0, packageId: pkg.packageId })).find((e) => e.type === 'v1.retention.default_applied');
    expect(decodeCanonical(applied!.payload)).toEqual({ package_id: pkg.packageId, retention_class: 'release-evidence', expires_at: '2026-11-23T09:00:10.000Z' });
    // The operator changes the file: new packages follow it, existing ones keep their expiry (also after replay).
    const other = await registry().createPackage({ tenant: 'ci', producer: 'p', subject: 's', retentionClass: 'release-evidence' });
    expect(other.expiresAt).toBe('2036-11-20T09:00:00.000Z');
    await replay(get().db);
    expect((await registry().getRetention('ci', pkg.packageId)).expiresAt).toBe('2026-11-23T09:00:10.000Z');
    const permanent = await registry(short).createPackage({ tenant: 'ci', producer: 'p', subject: 's', retentionClass: 'permanent-record' });
    expect(await registry().getRetention('ci', permanent.packageId)).toMatchObject({ expiresAt: null, deletionEligible: false });
    const before = await events();
    await expect(registry().createPackage({ tenant: 'ci', producer: 'p', subject: 's', retentionClass: 'forever' })).rejects.toMatchObject({ code: 'invalid-argument', message: 'unknown retention class "forever"' });
    expect(await events()).toEqual(before);
  });

  it('extends strictly later only, with a reason; rejections write nothing', async () => {
    clock.set(START);
    const r = registry();
    const { packageId, expiresAt } = await r.createPackage({ tenant: 'ci', producer: 'p', subject: 's', retentionClass: 'transient' });
    const current = new Date(expiresAt!);
    const before = await events();
    const extend = (newExpiresAt: Date | undefined, reason = 'audit request', tenant: string = 'ci') => r.extendRetention({ tenant, packageId, newExpiresAt, reason, actor: 'jenkins' });
    await expect(extend(current)).rejects.toThrow(/must be strictly later than the current expiry/);
    await expect(extend(new Date(current.getTime() - 1))).rejects.toMatchObject({ code: 'invalid-argument' });
    await expect(extend(new Date(current.getTime() + DAY), '  ')).rejects.toMatchObject({ code: 'invalid-argument', message: 'reason is mandatory' });
    await expect(extend(undefined)).rejects.toMatchObject({ code: 'invalid-argument', message: 'new_expires_at is mandatory' });
    await expect(extend(new Date(current.getTime() + DAY), 'x', 'assess')).rejects.toMatchObject({ code: 'not-found' });
    const permanent = await r.createPackage({ tenant: 'ci', producer: 'p', subject: 's', retentionClass: 'permanent-record' });
    const afterPermanent = await events();
    await expect(r.extendRetention({ tenant: 'ci', packageId: permanent.packageId, newExpiresAt: new Date(current.getTime() + DAY), reason: 'x', actor: 'a' })).rejects.toMatchObject({ code: 'failed-precondition' });
    expect((await events()).slice(0, before.length)).toEqual(before);
    expect(await events()).toEqual(afterPermanent);

    const res = await extend(new Date(current.getTime() + DAY));
    expect(res.retention.expiresAt).toBe(new Date(current.getTime() + DAY).toISOString());
    const last = (await events()).at(-1)!;
    expect(last.type).toBe('v1.retention.extended');
    expect(decodeCanonical(last.payload)).toEqual({ package_id: packageId, previous_expires_at: expiresAt, expires_at: res.retention.expiresAt, reason: 'audit request', actor: 'jenkins' });
  });

  it('holds are independent; release needs an active hold of that package', async () => {
    clock.set(START);
    const r = registry();
    const { packageId } = await r.createPackage({ tenant: 'ci', producer: 'p', subject: 's', retentionClass: 'transient' });
    const a = await r.applyHold({ tenant: 'ci', packageId, reason: 'legal', actor: 'jenkins' });
    const b = await r.applyHold({ tenant: 'ci', packageId, reason: 'incident 7', actor: 'operator' });
    expect(a.hold).toMatchObject({ reason: 'legal', actor: 'jenkins', releasedAt: null });
    expect(b.retention.holds.map((h) => h.holdId)).toEqual([a.hold.holdId, b.hold.holdId]);
    const released = await r.releaseHold({ tenant: 'ci', packageId, holdId: a.hold.holdId, reason: 'case closed', actor: 'operator' });
    expect(released.hold).toMatchObject({ holdId: a.hold.holdId, releasedBy: 'operator', releaseReason: 'case closed' });
    expect(released.retention.holds.map((h) => h.holdId)).toEqual([b.hold.holdId]);
    const before = await events();
    await expect(r.releaseHold({ tenant: 'ci', packageId, holdId: a.hold.holdId, reason: 'again', actor: 'o' })).rejects.toThrow(/was already released at/);
    await expect(r.releaseHold({ tenant: 'ci', packageId, holdId: 'hold_01JD3Y8K5Q0W3M9V7C2B6N4R8T', reason: 'x', actor: 'o' })).rejects.toMatchObject({ code: 'not-found' });
    await expect(r.releaseHold({ tenant: 'ci', packageId, holdId: b.hold.holdId, reason: '', actor: 'o' })).rejects.toMatchObject({ code: 'invalid-argument' });
    await expect(r.releaseHold({ tenant: 'assess', packageId, holdId: b.hold.holdId, reason: 'x', actor: 'o' })).rejects.toMatchObject({ code: 'not-found' });
    await expect(r.applyHold({ tenant: 'assess', packageId, reason: 'x', actor: 'o' })).rejects.toMatchObject({ code: 'not-found' });
    await expect(r.applyHold({ tenant: 'ci', packageId, reason: '\t', actor: 'o' })).rejects.toMatchObject({ code: 'invalid-argument' });
    await expect(r.getRetention('assess', packageId)).rejects.toMatchObject({ code: 'not-found' });
    await expect(r.getRetentionHistory('assess', packageId)).rejects.toMatchObject({ code: 'not-found' });
    expect(await events()).toEqual(before);
  });

  it('sweeps once per transition; a hold or an extension withdraws eligibility in its own transaction', async () => {
    clock.set(new Date('2030-01-01T00:00:00.000Z'));
    const r = registry({ ...BUILTIN_RETENTION_POLICY, transient: { kind: 'duration', ms: 60_000 } });
    const { packageId } = await r.createPackage({ tenant: 'ci', producer: 'p', subject: 'sweep', retentionClass: 'transient' });
    const hold = await r.applyHold({ tenant: 'ci', packageId, reason: 'legal', actor: 'a' });

    // Future as_of: only as a dry run, which writes nothing.
    const head = (await events()).length;
    await expect(r.sweepRetention({ asOf: new Date('2030-01-01T00:05:00.000Z') })).rejects.toThrow(/requires dry_run/);
    const held = await r.sweepRetention({ asOf: new Date('2030-01-01T00:05:00.000Z'), dryRun: true });
    expect(held).toMatchObject({ dryRun: true, asOf: '2030-01-01T00:05:00.000Z' });
    expect(held.newlyEligible).not.toContain(packageId);
    clock.advance(120_000);
    expect((await r.sweepRetention({})).newlyEligible).not.toContain(packageId);
    await r.releaseHold({ tenant: 'ci', packageId, holdId: hold.hold.holdId, reason: 'done', actor: 'a' });
    const preview = await r.sweepRetention({ asOf: new Date('2030-01-01T01:00:00.000Z'), dryRun: true });
    expect(preview.newlyEligible).toContain(packageId);
    // The first (real) sweep marked the earlier tests' expired packages; the package itself got only its release.
    expect((await events()).filter((e) => e.packageId === packageId && e.sequence > head).map((e) => e.type)).toEqual(['v1.retention.hold_released']);
    expect((await r.getRetention('ci', packageId)).deletionEligible).toBe(false);

    const swept = await r.sweepRetention({});
    expect(swept.newlyEligible).toContain(packageId);
    expect(await r.getRetention('ci', packageId)).toMatchObject({ deletionEligible: true, eligibleSince: '2030-01-01T00:02:00.000Z' });
    expect((await r.sweepRetention({})).newlyEligible).not.toContain(packageId);
    expect((await r.listPackages('ci', { deletionEligible: true })).items.map((p) => p.packageId)).toContain(packageId);

    // A hold after eligibility: ineligible again, with an event in the same transaction.
    const late = await r.applyHold({ tenant: 'ci', packageId, reason: 'new case', actor: 'a' });
    expect(late.retention).toMatchObject({ deletionEligible: false, eligibleSince: null });
    expect((await r.listPackages('ci', { onHold: true })).items.map((p) => p.packageId)).toContain(packageId);
    expect((await r.listPackages('ci', { deletionEligible: true })).items.map((p) => p.packageId)).not.toContain(packageId);
    await r.releaseHold({ tenant: 'ci', packageId, holdId: late.hold.holdId, reason: 'closed', actor: 'a' });
    expect((await r.sweepRetention({})).newlyEligible).toContain(packageId);
    // An extension into the future also withdraws it.
    const ext = await r.extendRetention({ tenant: 'ci', packageId, newExpiresAt: new Date('2031-01-01T00:00:00.000Z'), reason: 'keep', actor: 'a' });
    expect(ext.retention.deletionEligible).toBe(false);
    expect((await r.sweepRetention({})).newlyEligible).not.toContain(packageId);

    expect(await typesOf(packageId)).toEqual([
      'v1.package.created',
      'v1.retention.default_applied',
      'v1.retention.hold_applied',
      'v1.retention.hold_released',
      'v1.retention.deletion_eligible',
      'v1.retention.hold_applied',
      'v1.retention.deletion_ineligible',
      'v1.retention.hold_released',
      'v1.retention.deletion_eligible',
      'v1.retention.extended',
      'v1.retention.deletion_ineligible',
    ]);
    const history = await r.getRetentionHistory('ci', packageId);
    expect(history.map((e) => e.type)).toEqual((await typesOf(packageId)).slice(1));
    expect(history.map((e) => e.sequence)).toEqual([...history.map((e) => e.sequence)].sort((x, y) => x - y));
  });

  it('filters listings by expiry, eligibility and holds', async () => {
    clock.set(new Date('2040-01-01T00:00:00.000Z'));
    const r = registry();
    const a = await r.createPackage({ tenant: 'lister', producer: 'p', subject: 's', retentionClass: 'transient' });
    const b = await r.createPackage({ tenant: 'lister', producer: 'p', subject: 's', retentionClass: 'raw-evidence' });
    const c = await r.createPackage({ tenant: 'lister', producer: 'p', subject: 's', retentionClass: 'permanent-record' });
    await r.applyHold({ tenant: 'lister', packageId: b.packageId, reason: 'x', actor: 'a' });
    const ids = async (f: Parameters<Registry['listPackages']>[1]) => (await r.listPackages('lister', f)).items.map((p) => p.packageId).sort();
    expect(await ids({ expiresBefore: new Date('2040-06-01T00:00:00.000Z') })).toEqual([a.packageId]);
    expect(await ids({ expiresBefore: new Date('2099-01-01T00:00:00.000Z') })).toEqual([a.packageId, b.packageId].sort());
    expect(await ids({ onHold: true })).toEqual([b.packageId]);
    expect(await ids({ onHold: false })).toEqual([a.packageId, c.packageId].sort());
    expect(await ids({ deletionEligible: false })).toEqual([a.packageId, b.packageId, c.packageId].sort());
    expect(await ids({ deletionEligible: true })).toEqual([]);
  });

  it('replay rebuilds exactly the live retention views', async () => {
    const live = await dumpViews(get().db);
    expect(live['holds']!.length).toBeGreaterThan(3);
    await replay(get().db);
    expect(await dumpViews(get().db)).toEqual(live);
  });
});
