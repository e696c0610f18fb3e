// Verification outcomes are events: the projector folds them into storage_locations.status /
// verified_at, replay reproduces the same rows, and listing walks every copy in pages.
import { expect, it } from 'vitest';
import { createManualClock } from '../../core/time/clock.ts';
import { dumpViews, replay } from '../../control-plane/events/replay.ts';
import { createMutate } from '../../control-plane/registry/mutation.ts';
import { createRegistry } from '../../control-plane/registry/registry.ts';
import { createStorageLocations } from '../../control-plane/registry/storage-locations.ts';
import { describeEachDialect } from '../db/test-database.ts';
import { addTextFile, digestsOf } from './workload.ts';

describeEachDialect('storage locations', (get) => {
  it('records checks as events that replay reproduces, and reports failed copies', async () => {
    const { db } = get();
    const clock = createManualClock(new Date('2026-11-23T09:00:00.000Z'));
    const registry = createRegistry({ db, clock });
    const locations = createStorageLocations({ db, mutate: createMutate(db, clock) });
    const pkg = await registry.createPackage({ tenant: 't', producer: 'ci', subject: 's', retentionClass: 'transient' });
    const texts = ['alpha', 'beta', 'gamma'];
    for (const text of texts) await addTextFile(registry, 't', pkg.packageId, `${text}.txt`, text);

    const first = await locations.list({}, { pageSize: 2 });
    expect(first.items).toHaveLength(2);
    const second = await locations.list({}, { pageSize: 2, pageToken: first.nextPageToken });
    expect(second.items).toHaveLength(1);
    expect(second.nextPageToken).toBe('');
    const all = [...first.items, ...second.items];
    expect(all.map((l) => l.contentAddress).sort()).toEqual(texts.map((t) => digestsOf(t).blake3).sort());
    expect(all.every((l) => l.status === 'stored' && l.backendId === 'local' && l.sha256.startsWith('sha256:'))).toBe(true);
    expect(await locations.list({ backendId: 'elsewhere' }, {})).toEqual({ items: [], nextPageToken: '' });

    clock.advance(1000);
    const bad = digestsOf('beta').blake3;
    expect(await locations.recordCheck({ contentAddress: digestsOf('alpha').blake3, backendId: 'local', ok: true })).toMatchObject({ status: 'verified' });
    expect(await locations.recordCheck({ contentAddress: bad, backendId: 'local', ok: false, reason: 'digest-mismatch', detail: 'BLAKE3 differs' })).toMatchObject({ status: 'failed' });
    await expect(locations.recordCheck({ contentAddress: digestsOf('nothing').blake3, backendId: 'local', ok: true })).rejects.toThrow(/no copy/);

    const failed = await locations.failed();
    expect(failed.count).toBe(1);
    expect(failed.sample.map((l) => l.contentAddress)).toEqual([bad]);
    const rows = await db.selectFrom('storage_locations').select(['content_address', 'status', 'verified_at']).execute();
    expect(rows.find((r) => r.content_address === digestsOf('alpha').blake3)?.verified_at).not.toBeNull();
    expect(rows.find((r) => r.content_address === bad)?.status).toBe('failed');

    const live = await dumpViews(db);
    await db.deleteFrom('storage_locations').execute();
    await replay(db);
    expect(await dumpViews(db)).toEqual(live);
  });
});
