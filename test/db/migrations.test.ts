import { sql } from 'kysely';
import { expect, it } from 'vitest';
import { createManualClock } from '../../core/time/clock.ts';
import { BUILTIN_RETENTION_POLICY } from '../../control-plane/config/operator-config.ts';
import { createRegistry } from '../../control-plane/registry/registry.ts';
import * as m0006 from '../../migrations/0006-upload-completing.ts';
import * as m0007 from '../../migrations/0007-file-backend.ts';
import { completeWithTextFile, digestsOf } from '../registry/workload.ts';
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

describeEachDialect('migration 0006 (completing upload sessions)', (get) => {
  it('fills file_id of sessions completed before it from their v1.upload.completed events, as a replay would', async () => {
    const { db } = get();
    const registry = createRegistry({ db, clock: createManualClock(new Date('2026-12-05T09:00:00.000Z')), retentionPolicy: BUILTIN_RETENTION_POLICY });
    const pkg = await registry.createPackage({ tenant: 'ci', producer: 'p', subject: 's', retentionClass: 'transient' });
    const session = await registry.createUploadSession({ tenant: 'ci', packageId: pkg.packageId, relativePath: 'a.txt', backendId: 'local' });
    await completeWithTextFile(registry, 'ci', pkg.packageId, session.uploadId, 'a.txt', 'a');
    const { fileId } = await registry.getUploadSession('ci', session.uploadId);
    expect(fileId).toMatch(/^file_/);
    // Back to 0005's shape (no file_id), then forward again.
    await m0006.down(db);
    expect(await sql`SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'upload_sessions' AND column_name = 'file_id'`.execute(db).then((r) => r.rows)).toEqual([]);
    await m0006.up(db);
    expect(await registry.getUploadSession('ci', session.uploadId)).toMatchObject({ status: 'completed', fileId });
  });
});

describeEachDialect('migration 0007 (the backend of each file)', (get) => {
  it('fills files.backend_id from each file\'s v1.file.added event, as a replay would', async () => {
    const { db } = get();
    const registry = createRegistry({ db, clock: createManualClock(new Date('2026-12-05T09:00:00.000Z')), retentionPolicy: BUILTIN_RETENTION_POLICY });
    const pkg = await registry.createPackage({ tenant: 'ci', producer: 'p', subject: 's', retentionClass: 'transient' });
    // More files than the migration reads per step (500), on two backends.
    const inputs = Array.from({ length: 503 }, (_, i) => {
      const d = digestsOf(`file ${i}`);
      return { relativePath: `f${String(i).padStart(4, '0')}.txt`, size: d.size, mediaType: 'text/plain', blake3: d.blake3, sha256: d.sha256, backendId: i % 3 === 1 ? 's3-eu' : 'local', storageKey: `blake3/${d.blake3.slice(7)}` };
    });
    await registry.addFiles('ci', pkg.packageId, inputs.slice(0, 300));
    await registry.addFiles('ci', pkg.packageId, inputs.slice(300));
    const before = await db.selectFrom('files').select(['relative_path', 'backend_id']).orderBy('relative_path').execute();
    expect(before.map((f) => f.backend_id)).toEqual(inputs.map((i) => i.backendId));
    await m0007.down(db);
    expect(await sql`SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'files' AND column_name = 'backend_id'`.execute(db).then((r) => r.rows)).toEqual([]);
    await m0007.up(db);
    expect(await db.selectFrom('files').select(['relative_path', 'backend_id']).orderBy('relative_path').execute()).toEqual(before);
  });
});
