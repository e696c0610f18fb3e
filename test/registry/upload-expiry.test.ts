// Upload sessions expire UPLOAD_SESSION_TTL_MS after they open: from that instant the registry reports
// them expired, accepts recording the expiry (one v1.upload.expired event) and nothing else but a
// completion whose file was already recorded.
import { expect, it } from 'vitest';
import { createManualClock } from '../../core/time/clock.ts';
import { BUILTIN_RETENTION_POLICY } from '../../control-plane/config/operator-config.ts';
import { readEvents } from '../../control-plane/events/event-log.ts';
import { createRegistry } from '../../control-plane/registry/registry.ts';
import { UPLOAD_SESSION_TTL_MS } from '../../control-plane/registry/upload-sessions.ts';
import { RegistryError } from '../../control-plane/registry/registry-error.ts';
import { describeEachDialect } from '../db/test-database.ts';
import { addTextFile } from './workload.ts';

const START = new Date('2026-12-04T09:00:00.000Z');

async function failure(promise: Promise<unknown>): Promise<RegistryError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RegistryError);
  return error as RegistryError;
}

describeEachDialect('upload session expiry', (get) => {
  it('reports a session expired from its deadline on, and records the expiry once', async () => {
    const { db } = get();
    const clock = createManualClock(START);
    const registry = createRegistry({ db, clock, retentionPolicy: BUILTIN_RETENTION_POLICY });
    const pkg = await registry.createPackage({ tenant: 'ci', producer: 'p', subject: 's', retentionClass: 'transient' });
    const session = await registry.createUploadSession({ tenant: 'ci', packageId: pkg.packageId, relativePath: 'a.bin', backendId: 'local' });
    expect(Date.parse(session.expiresAt) - START.getTime()).toBe(UPLOAD_SESSION_TTL_MS);

    clock.set(new Date(Date.parse(session.expiresAt) - 1));
    expect((await registry.getUploadSession('ci', session.uploadId)).status).toBe('open');
    const early = await failure(registry.closeUploadSession('ci', session.uploadId, 'expired'));
    expect(early.code).toBe('failed-precondition');
    expect(early.message).toContain(`does not expire until ${session.expiresAt}`);

    clock.set(new Date(session.expiresAt));
    expect((await registry.getUploadSession('ci', session.uploadId)).status).toBe('expired');
    const before = (await readEvents(db, { after: 0, limit: 1000 })).length;
    expect((await registry.closeUploadSession('ci', session.uploadId, 'expired')).status).toBe('expired');
    expect((await registry.closeUploadSession('ci', session.uploadId, 'expired')).status).toBe('expired'); // a retry changes nothing
    const events = (await readEvents(db, { after: 0, limit: 1000 })).slice(before);
    expect(events.map((e) => e.type)).toEqual(['v1.upload.expired']);
    expect((await failure(registry.closeUploadSession('ci', session.uploadId, 'aborted'))).code).toBe('failed-precondition');
    expect((await failure(registry.closeUploadSession('ci', session.uploadId, 'completed'))).code).toBe('failed-precondition');
    // Another tenant still cannot see it.
    expect((await failure(registry.getUploadSession('other', session.uploadId))).code).toBe('not-found');
  });

  it('lets a completion that started before the deadline finish after it', async () => {
    const { db } = get();
    const clock = createManualClock(START);
    const registry = createRegistry({ db, clock, retentionPolicy: BUILTIN_RETENTION_POLICY });
    const pkg = await registry.createPackage({ tenant: 'ci', producer: 'p', subject: 's', retentionClass: 'transient' });
    const session = await registry.createUploadSession({ tenant: 'ci', packageId: pkg.packageId, relativePath: 'late.txt', backendId: 'local' });
    await addTextFile(registry, 'ci', pkg.packageId, 'late.txt', 'late');
    clock.advance(UPLOAD_SESSION_TTL_MS + 1);
    expect((await registry.closeUploadSession('ci', session.uploadId, 'completed')).status).toBe('completed');
    expect((await registry.getUploadSession('ci', session.uploadId)).status).toBe('completed');
    expect((await failure(registry.closeUploadSession('ci', session.uploadId, 'expired'))).code).toBe('failed-precondition');
  });
});
