// Upload sessions expire UPLOAD_SESSION_TTL_MS after they open: from that instant the registry reports
// them expired and begins no completion; UPLOAD_EXPIRY_GRACE_MS later they become purgeable and the
// expiry can be recorded (one v1.upload.expired event). Until an expiry is recorded, the file of a
// completion that began in time and an abort are still accepted; after it, neither.
import type { Kysely } from 'kysely';
import { expect, it } from 'vitest';
import { createManualClock } from '../../core/time/clock.ts';
import { BUILTIN_RETENTION_POLICY } from '../../control-plane/config/operator-config.ts';
import { readEvents } from '../../control-plane/events/event-log.ts';
import { createRegistry } from '../../control-plane/registry/registry.ts';
import { UPLOAD_EXPIRY_GRACE_MS, UPLOAD_SESSION_TTL_MS } from '../../control-plane/registry/upload-sessions.ts';
import { RegistryError } from '../../control-plane/registry/registry-error.ts';
import type { Schema } from '../../control-plane/db/schema.ts';
import { describeEachDialect } from '../db/test-database.ts';
import { rejectionOf } from '../support/rejection.ts';
import { digestsOf } from './workload.ts';

const START = new Date('2026-12-04T09:00:00.000Z');

function failure(promise: Promise<unknown>): Promise<RegistryError> {
  return rejectionOf(promise, RegistryError);
}

/** A registry on `db` at START with one open package holding one session for `relativePath`. */
async function openSession(db: Kysely<Schema>, relativePath: string) {
  const clock = createManualClock(START);
  const registry = createRegistry({ db, clock, retentionPolicy: BUILTIN_RETENTION_POLICY });
  const pkg = await registry.createPackage({ tenant: 'ci', producer: 'p', subject: 's', retentionClass: 'transient' });
  const session = await registry.createUploadSession({ tenant: 'ci', packageId: pkg.packageId, relativePath, backendId: 'local' });
  return { db, clock, registry, pkg, session };
}

describeEachDialect('upload session expiry', (get) => {
  it('reports a session expired from its deadline on, and records the expiry once', async () => {
    const { db, clock, registry, session } = await openSession(get().db, 'a.bin');
    expect(Date.parse(session.expiresAt) - START.getTime()).toBe(UPLOAD_SESSION_TTL_MS);

    clock.set(new Date(Date.parse(session.expiresAt) - 1));
    expect((await registry.getUploadSession('ci', session.uploadId)).status).toBe('open');
    const early = await failure(registry.closeUploadSession('ci', session.uploadId, 'expired'));
    expect(early.code).toBe('failed-precondition');
    expect(early.message).toContain(`expires at ${session.expiresAt}`);

    // From the deadline: reported expired, but the expiry cannot be recorded during the grace period.
    clock.set(new Date(session.expiresAt));
    expect(await registry.getUploadSession('ci', session.uploadId)).toMatchObject({ status: 'expired', purgeable: false });
    clock.advance(UPLOAD_EXPIRY_GRACE_MS - 1);
    const inGrace = await failure(registry.closeUploadSession('ci', session.uploadId, 'expired'));
    expect(inGrace.code).toBe('failed-precondition');
    expect(inGrace.message).toContain(`expires at ${session.expiresAt}; its expiry can be recorded from`);
    clock.advance(1);
    expect(await registry.getUploadSession('ci', session.uploadId)).toMatchObject({ status: 'expired', purgeable: true });
    const before = (await readEvents(db, { after: 0, limit: 1000 })).length;
    expect((await registry.closeUploadSession('ci', session.uploadId, 'expired')).status).toBe('expired');
    expect((await registry.closeUploadSession('ci', session.uploadId, 'expired')).status).toBe('expired'); // a retry changes nothing
    expect(await registry.getUploadSession('ci', session.uploadId)).toMatchObject({ status: 'expired', purgeable: true });
    const events = (await readEvents(db, { after: 0, limit: 1000 })).slice(before);
    expect(events.map((e) => e.type)).toEqual(['v1.upload.expired']);
    expect((await failure(registry.closeUploadSession('ci', session.uploadId, 'aborted'))).code).toBe('failed-precondition');
    expect((await failure(registry.beginUploadCompletion('ci', session.uploadId))).code).toBe('failed-precondition');
    // Another tenant still cannot see it.
    expect((await failure(registry.getUploadSession('other', session.uploadId))).code).toBe('not-found');
  });

  it('records an abort during the grace period as an abort', async () => {
    const { clock, registry, session } = await openSession(get().db, 'gone.bin');
    clock.advance(UPLOAD_SESSION_TTL_MS + 1);
    expect((await registry.closeUploadSession('ci', session.uploadId, 'aborted')).status).toBe('aborted');
    clock.advance(UPLOAD_EXPIRY_GRACE_MS);
    expect(await registry.getUploadSession('ci', session.uploadId)).toMatchObject({ status: 'aborted', purgeable: false });
    expect((await failure(registry.closeUploadSession('ci', session.uploadId, 'expired'))).code).toBe('failed-precondition');
  });

  it('lets a completion that started before the deadline finish after it, but begins none after it', async () => {
    const { clock, registry, pkg, session } = await openSession(get().db, 'late.txt');
    const { completionId } = await registry.beginUploadCompletion('ci', session.uploadId);
    clock.advance(UPLOAD_SESSION_TTL_MS + UPLOAD_EXPIRY_GRACE_MS - 1);
    expect(await registry.getUploadSession('ci', session.uploadId)).toMatchObject({ status: 'expired', purgeable: false });
    // A retried completion would start after the deadline: refused.
    expect((await failure(registry.beginUploadCompletion('ci', session.uploadId))).message).toContain('expired at');
    const d = digestsOf('late');
    await registry.addFile({ tenant: 'ci', packageId: pkg.packageId, relativePath: 'late.txt', size: d.size, blake3: d.blake3, sha256: d.sha256, backendId: 'local', storageKey: `blake3/${d.blake3.slice(7)}`, upload: { uploadId: session.uploadId, completionId } });
    expect(await registry.getUploadSession('ci', session.uploadId)).toMatchObject({ status: 'completed', purgeable: false });
    expect((await failure(registry.closeUploadSession('ci', session.uploadId, 'expired'))).code).toBe('failed-precondition');
  });

  it('records the file of a completing session only while it is completing', async () => {
    const { clock, registry, pkg, session } = await openSession(get().db, 'raced.txt');
    const { completionId } = await registry.beginUploadCompletion('ci', session.uploadId);
    clock.advance(UPLOAD_SESSION_TTL_MS + UPLOAD_EXPIRY_GRACE_MS);
    expect((await registry.closeUploadSession('ci', session.uploadId, 'expired')).status).toBe('expired');
    const d = digestsOf('raced');
    const late = await failure(registry.addFile({ tenant: 'ci', packageId: pkg.packageId, relativePath: 'raced.txt', size: d.size, blake3: d.blake3, sha256: d.sha256, backendId: 'local', storageKey: `blake3/${d.blake3.slice(7)}`, upload: { uploadId: session.uploadId, completionId } }));
    expect(late).toMatchObject({ code: 'failed-precondition', message: expect.stringContaining('already expired') as unknown });
    expect(await registry.listFiles('ci', pkg.packageId)).toEqual([]);
  });
});
