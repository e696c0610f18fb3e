// The upload sweep asks the registry for purgeable sessions: open ones whose deadline and grace period
// have passed, of every tenant, in upload-id order, a page at a time, optionally only those on given
// backends. Sessions still in their grace period, and closed ones, are never listed; once the sweep
// records an expiry the session drops out of the listing.
import { expect, it } from 'vitest';
import { createManualClock } from '../../core/time/clock.ts';
import { BUILTIN_RETENTION_POLICY } from '../../control-plane/config/operator-config.ts';
import { readEvents } from '../../control-plane/events/event-log.ts';
import { createRegistry } from '../../control-plane/registry/registry.ts';
import { RegistryError } from '../../control-plane/registry/registry-error.ts';
import { ALL_TENANTS } from '../../control-plane/registry/scope.ts';
import { UPLOAD_EXPIRY_GRACE_MS, UPLOAD_SESSION_TTL_MS } from '../../control-plane/registry/upload-sessions.ts';
import { describeEachDialect } from '../db/test-database.ts';
import { rejectionOf } from '../support/rejection.ts';
import { completeWithTextFile } from './workload.ts';

const START = new Date('2026-12-05T09:00:00.000Z');
const HOUR = 3_600_000;

describeEachDialect('listing purgeable upload sessions', (get) => {
  it('lists open and completing sessions past deadline and grace, of every tenant, by backend, page by page', async () => {
    const { db } = get();
    const clock = createManualClock(START);
    const registry = createRegistry({ db, clock, retentionPolicy: BUILTIN_RETENTION_POLICY });
    const mine = await registry.createPackage({ tenant: 'ci', producer: 'p', subject: 's', retentionClass: 'transient' });
    const theirs = await registry.createPackage({ tenant: 'other', producer: 'p', subject: 's', retentionClass: 'transient' });
    const open = (tenant: string, packageId: string, path: string, backendId = 'local') => registry.createUploadSession({ tenant, packageId, relativePath: path, backendId });

    // Six sessions opened at START: abandoned (two tenants, two backends), one of them while completing
    // (its data plane died), completed, aborted.
    const a = await open('ci', mine.packageId, 'a.bin');
    await registry.beginUploadCompletion('ci', a.uploadId);
    const b = await open('other', theirs.packageId, 'b.bin');
    const c = await open('ci', mine.packageId, 'c.bin', 's3-main');
    const done = await open('ci', mine.packageId, 'done.txt');
    await completeWithTextFile(registry, 'ci', mine.packageId, done.uploadId, 'done.txt', 'done');
    const dropped = await open('ci', mine.packageId, 'dropped.bin');
    await registry.closeUploadSession('ci', dropped.uploadId, 'aborted');
    // One opened two hours later: still in its grace period when the others are purgeable.
    clock.advance(2 * HOUR);
    const later = await open('ci', mine.packageId, 'later.bin');

    const ids = async (filter: { backendIds?: string[] } = {}, pageSize = 0): Promise<string[]> => {
      const found: string[] = [];
      let pageToken = '';
      do {
        const page = await registry.listPurgeableUploadSessions(filter, { pageToken, pageSize });
        for (const s of page.items) expect(s).toMatchObject({ status: 'expired', purgeable: true });
        found.push(...page.items.map((s) => s.uploadId));
        pageToken = page.nextPageToken;
      } while (pageToken !== '');
      return found;
    };

    // Before the deadline, and during the grace period: nothing.
    expect(await ids()).toEqual([]);
    clock.set(new Date(START.getTime() + UPLOAD_SESSION_TTL_MS + UPLOAD_EXPIRY_GRACE_MS - 1));
    expect(await ids()).toEqual([]);

    clock.advance(1);
    const abandoned = [a.uploadId, b.uploadId, c.uploadId].sort();
    expect(await ids()).toEqual(abandoned);
    expect(await ids({}, 1)).toEqual(abandoned);
    expect(await ids({ backendIds: ['local'] })).toEqual([a.uploadId, b.uploadId].sort());
    expect(await ids({ backendIds: ['s3-main', 'nowhere'] })).toEqual([c.uploadId]);
    expect(await ids({ backendIds: ['nowhere'] })).toEqual([]);

    // A page token belongs to its filter.
    const first = await registry.listPurgeableUploadSessions({}, { pageSize: 1 });
    expect(first.nextPageToken).not.toBe('');
    const foreign = await rejectionOf(registry.listPurgeableUploadSessions({ backendIds: ['local'] }, { pageToken: first.nextPageToken }), RegistryError);
    expect(foreign.code).toBe('invalid-argument');

    // Recording an expiry (the sweep acts for every tenant) takes the session off the list.
    const before = (await readEvents(db, { after: 0, limit: 10_000 })).length;
    expect((await registry.closeUploadSession(ALL_TENANTS, b.uploadId, 'expired')).status).toBe('expired');
    expect((await readEvents(db, { after: 0, limit: 10_000 })).slice(before).map((e) => e.type)).toEqual(['v1.upload.expired']);
    expect(await ids()).toEqual([a.uploadId, c.uploadId].sort());

    // The later session becomes purgeable two hours after the others.
    clock.advance(2 * HOUR);
    expect(await ids()).toEqual([a.uploadId, c.uploadId, later.uploadId].sort());
  });
});
