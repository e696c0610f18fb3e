// Completing an upload session in the registry: a completion begins (the session takes no more chunks),
// then its file is recorded and the session closed as completed in one transaction, only while that
// completion is still the session's. An abort that comes first wins; a second completion takes over from
// the first; a failed completion reopens the session. PGlite and PostgreSQL.
import type { Kysely } from 'kysely';
import { expect, it } from 'vitest';
import { createManualClock } from '../../core/time/clock.ts';
import { BUILTIN_RETENTION_POLICY } from '../../control-plane/config/operator-config.ts';
import type { Schema } from '../../control-plane/db/schema.ts';
import { readEvents } from '../../control-plane/events/event-log.ts';
import { createRegistry, type Registry } from '../../control-plane/registry/registry.ts';
import { RegistryError } from '../../control-plane/registry/registry-error.ts';
import { UPLOAD_SESSION_TTL_MS } from '../../control-plane/registry/upload-sessions.ts';
import { describeEachDialect } from '../db/test-database.ts';
import { rejectionOf } from '../support/rejection.ts';
import { digestsOf } from './workload.ts';

async function setUp(db: Kysely<Schema>, relativePath: string) {
  const registry = createRegistry({ db, clock: createManualClock(new Date('2026-12-05T09:00:00.000Z')), retentionPolicy: BUILTIN_RETENTION_POLICY });
  const pkg = await registry.createPackage({ tenant: 'ci', producer: 'p', subject: 's', retentionClass: 'transient' });
  const session = await registry.createUploadSession({ tenant: 'ci', packageId: pkg.packageId, relativePath, backendId: 'local' });
  return { registry, packageId: pkg.packageId, uploadId: session.uploadId };
}

/** Records `text` at `relativePath` as the file of completion `completionId` of `uploadId`. */
function record(registry: Registry, packageId: string, relativePath: string, text: string, upload: { uploadId: string; completionId: string }) {
  const d = digestsOf(text);
  return registry.addFile({ tenant: 'ci', packageId, relativePath, size: d.size, blake3: d.blake3, sha256: d.sha256, backendId: 'local', storageKey: `blake3/${d.blake3.slice(7)}`, upload });
}

async function typesSince(db: Kysely<Schema>, after: number): Promise<string[]> {
  return (await readEvents(db, { after, limit: 1000 })).map((e) => e.type);
}

describeEachDialect('upload completion', (get) => {
  it('records the file and closes the session in one transaction, once', async () => {
    const { db } = get();
    const { registry, packageId, uploadId } = await setUp(db, 'a.txt');
    const before = (await readEvents(db, { after: 0, limit: 1000 })).length;
    // Not begun: refused, nothing recorded.
    expect((await rejectionOf(record(registry, packageId, 'a.txt', 'a', { uploadId, completionId: 'completion_x' }), RegistryError)).message).toContain('not being completed');
    const { session, completionId } = await registry.beginUploadCompletion('ci', uploadId);
    expect(session).toMatchObject({ status: 'completing', completionId });
    // The session's own path only.
    expect((await rejectionOf(record(registry, packageId, 'b.txt', 'b', { uploadId, completionId }), RegistryError)).code).toBe('invalid-argument');
    const file = await record(registry, packageId, 'a.txt', 'a', { uploadId, completionId });
    expect(await registry.getUploadSession('ci', uploadId)).toMatchObject({ status: 'completed', fileId: file.fileId, completionId: null });
    expect(await typesSince(db, before)).toEqual(['v1.upload.completing', 'v1.file.added', 'v1.upload.completed']);
    // Nothing more: a second record, a new completion, an abort.
    await rejectionOf(record(registry, packageId, 'a.txt', 'a', { uploadId, completionId }), RegistryError);
    expect((await rejectionOf(registry.beginUploadCompletion('ci', uploadId), RegistryError)).code).toBe('failed-precondition');
    expect((await rejectionOf(registry.closeUploadSession('ci', uploadId, 'aborted'), RegistryError)).code).toBe('failed-precondition');
    expect((await registry.listFiles('ci', packageId)).map((f) => f.fileId)).toEqual([file.fileId]);
  });

  it('lets an abort during a completion win: the file is then refused', async () => {
    const { db } = get();
    const { registry, packageId, uploadId } = await setUp(db, 'a.txt');
    const { completionId } = await registry.beginUploadCompletion('ci', uploadId);
    expect((await registry.closeUploadSession('ci', uploadId, 'aborted')).status).toBe('aborted');
    expect((await rejectionOf(record(registry, packageId, 'a.txt', 'a', { uploadId, completionId }), RegistryError)).message).toContain('already aborted');
    expect(await registry.listFiles('ci', packageId)).toEqual([]);
    expect((await registry.abandonUploadCompletion('ci', uploadId, completionId, 'conflict')).status).toBe('aborted'); // nothing to reopen
  });

  it('lets a new completion take over: the earlier one can neither record nor reopen', async () => {
    const { db } = get();
    const { registry, packageId, uploadId } = await setUp(db, 'a.txt');
    const first = await registry.beginUploadCompletion('ci', uploadId);
    const second = await registry.beginUploadCompletion('ci', uploadId);
    expect(second.completionId).not.toBe(first.completionId);
    expect((await rejectionOf(record(registry, packageId, 'a.txt', 'a', { uploadId, completionId: first.completionId }), RegistryError)).message).toContain('another request');
    const before = (await readEvents(db, { after: 0, limit: 1000 })).length;
    expect(await registry.abandonUploadCompletion('ci', uploadId, first.completionId, 'digest-mismatch')).toMatchObject({ status: 'completing', completionId: second.completionId });
    expect(await typesSince(db, before)).toEqual([]);
    await record(registry, packageId, 'a.txt', 'a', { uploadId, completionId: second.completionId });
    expect((await registry.getUploadSession('ci', uploadId)).status).toBe('completed');
  });

  it('reopens the session when its completion failed, for more chunks and another completion', async () => {
    const { db } = get();
    const { registry, packageId, uploadId } = await setUp(db, 'a.txt');
    const failed = await registry.beginUploadCompletion('ci', uploadId);
    const before = (await readEvents(db, { after: 0, limit: 1000 })).length;
    expect(await registry.abandonUploadCompletion('ci', uploadId, failed.completionId, 'size-mismatch')).toMatchObject({ status: 'open', completionId: null });
    const [event] = await readEvents(db, { after: before, limit: 10 });
    expect(event?.type).toBe('v1.upload.completion_failed');
    expect((await rejectionOf(record(registry, packageId, 'a.txt', 'a', { uploadId, completionId: failed.completionId }), RegistryError)).message).toContain('not being completed');
    const again = await registry.beginUploadCompletion('ci', uploadId);
    await record(registry, packageId, 'a.txt', 'a', { uploadId, completionId: again.completionId });
    expect((await registry.getUploadSession('ci', uploadId)).status).toBe('completed');
  });
});

describeEachDialect('finalizing beside upload sessions', (get) => {
  it('refuses to finalize while a session of the package is open or completing, naming it; closed or expired ones do not count', async () => {
    const { db } = get();
    const clock = createManualClock(new Date('2026-12-05T09:00:00.000Z'));
    const registry = createRegistry({ db, clock, retentionPolicy: BUILTIN_RETENTION_POLICY });
    const pkg = await registry.createPackage({ tenant: 'ci', producer: 'p', subject: 's', retentionClass: 'transient' });
    const open = await registry.createUploadSession({ tenant: 'ci', packageId: pkg.packageId, relativePath: 'a.bin', backendId: 'local' });
    const refused = await rejectionOf(registry.finalizePackage({ tenant: 'ci', packageId: pkg.packageId }), RegistryError);
    expect(refused.code).toBe('failed-precondition');
    expect(refused.message).toContain(open.uploadId);
    await registry.beginUploadCompletion('ci', open.uploadId);
    expect((await rejectionOf(registry.finalizePackage({ tenant: 'ci', packageId: pkg.packageId }), RegistryError)).message).toContain('in progress');
    await registry.closeUploadSession('ci', open.uploadId, 'aborted');
    // A session past its deadline can no longer complete: it does not hold the package open.
    await registry.createUploadSession({ tenant: 'ci', packageId: pkg.packageId, relativePath: 'b.bin', backendId: 'local' });
    clock.advance(UPLOAD_SESSION_TTL_MS);
    expect((await registry.finalizePackage({ tenant: 'ci', packageId: pkg.packageId })).package.status).toBe('finalized');
  });
});

describeEachDialect('upload sessions beside other writers of the package (lock order)', (get) => {
  it('never deadlocks, and never leaves a session open on a finalized package', async () => {
    const { db } = get();
    const registry = createRegistry({ db, clock: createManualClock(new Date('2026-12-05T09:00:00.000Z')), retentionPolicy: BUILTIN_RETENTION_POLICY });
    const failures: string[] = [];
    const note = (results: PromiseSettledResult<unknown>[]): void => {
      for (const r of results) if (r.status === 'rejected') failures.push(String((r.reason as Error).message));
    };
    for (let round = 0; round < 15; round++) {
      const pkg = await registry.createPackage({ tenant: 'ci', producer: 'p', subject: 's', retentionClass: 'transient' });
      const session = await registry.createUploadSession({ tenant: 'ci', packageId: pkg.packageId, relativePath: 'a', backendId: 'local' });
      const { completionId } = await registry.beginUploadCompletion('ci', session.uploadId);
      const d = digestsOf(`race ${round}`);
      // A completion recording its file, a new session, an abort and a plain file, all at once.
      note(
        await Promise.allSettled([
          registry.addFile({ tenant: 'ci', packageId: pkg.packageId, relativePath: 'a', size: d.size, blake3: d.blake3, sha256: d.sha256, backendId: 'local', storageKey: `blake3/${d.blake3.slice(7)}`, upload: { uploadId: session.uploadId, completionId } }),
          registry.createUploadSession({ tenant: 'ci', packageId: pkg.packageId, relativePath: 'b', backendId: 'local' }),
          registry.closeUploadSession('ci', session.uploadId, 'aborted'),
          registry.addFile({ tenant: 'ci', packageId: pkg.packageId, relativePath: 'c', size: d.size, blake3: d.blake3, sha256: d.sha256, backendId: 'local', storageKey: `blake3/${d.blake3.slice(7)}` }),
        ]),
      );
      // A finalize and a new session at once: the session is refused, or the finalize is.
      const other = await registry.createPackage({ tenant: 'ci', producer: 'p', subject: 's', retentionClass: 'transient' });
      const [finalized, opened] = await Promise.allSettled([registry.finalizePackage({ tenant: 'ci', packageId: other.packageId }), registry.createUploadSession({ tenant: 'ci', packageId: other.packageId, relativePath: 'x', backendId: 'local' })]);
      expect(finalized.status === 'fulfilled' && opened.status === 'fulfilled', `round ${round}: both a finalize and a session`).toBe(false);
    }
    expect(failures.filter((m) => /deadlock/i.test(m))).toEqual([]);
  }, 120_000);
});
