import { sql } from 'kysely';
import { expect, it } from 'vitest';
import { describeEachDialect } from './test-database.ts';

describeEachDialect('migrations', (get) => {
  it('seeds the five v1 retention classes', async () => {
    const rows = await get().db.selectFrom('retention_classes').select(['name', 'default_retention_days']).orderBy('sort_order').execute();
    expect(rows.map((r) => r.name)).toEqual(['transient', 'raw-evidence', 'summary-evidence', 'release-evidence', 'permanent-record']);
    expect(rows.at(-1)?.default_retention_days).toBeNull();
  });

  it('is a no-op when run again', async () => {
    expect(await get().migrate()).toEqual([]);
  });

  it('refuses to update, delete or truncate events', async () => {
    const { db } = get();
    await db.insertInto('events').values({ sequence: 1, event_type: 't', occurred_at: '2026-01-01T00:00:00.000Z', package_id: null, payload: new Uint8Array([0xa0]), prev_hash: 'x', hash: 'y' }).execute();
    await expect(db.updateTable('events').set({ event_type: 'u' }).execute()).rejects.toThrow(/insert-only/);
    await expect(db.deleteFrom('events').execute()).rejects.toThrow(/insert-only/);
    await expect(sql`TRUNCATE events`.execute(db)).rejects.toThrow(/insert-only/);
    expect(await db.selectFrom('events').select('event_type').execute()).toEqual([{ event_type: 't' }]);
  });

  it('keeps package status to the five states', async () => {
    await expect(
      get()
        .db.insertInto('packages')
        .values({ package_id: 'p', tenant: 't', producer: 'p', subject: 's', retention_class: 'transient', status: 'bogus' as 'created', metadata: '{}', manifest_digest: null, file_count: 0, total_bytes: 0, created_at: '2026-01-01T00:00:00.000Z', updated_at: '2026-01-01T00:00:00.000Z', finalized_at: null, last_sequence: 1 })
        .execute(),
    ).rejects.toThrow(/check constraint/);
  });
});
