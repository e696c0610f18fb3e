/**
 * ControlService as a data plane uses it: registration and liveness on an injected clock, write
 * authorization, file records, read resolution, upload sessions and their events.
 */
import { Code, ConnectError } from '@connectrpc/connect';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeCanonical } from '../../core/cbor/canonical.ts';
import { createManualClock } from '../../core/time/clock.ts';
import { digestsOf } from '../registry/workload.ts';
import { startTestControlPlane, TOKENS, type TestControlPlane } from './harness.ts';
import { recordText } from './fixtures.ts';

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return Code[ConnectError.from(err).code];
  }
}

describe('ControlService', () => {
  const clock = createManualClock(new Date('2026-11-23T09:00:00.000Z'));
  let t: TestControlPlane;
  let pkg = '';
  beforeAll(async () => {
    t = await startTestControlPlane({ clock, dataPlaneTtlMs: 10_000 });
    pkg = (await t.registry('ci').createPackage({ producer: 'p', subject: 'dp', retentionClass: 'transient' })).package!.packageId;
  });
  afterAll(() => t?.close());

  it('registers data planes and forgets one that misses its heartbeats', async () => {
    const c = t.control();
    const reg = await c.registerDataPlane({ advertiseUrl: 'http://127.0.0.1:8001/', backendId: 'local' });
    expect(reg.dataPlaneId).toMatch(/^dp_/);
    expect(reg.heartbeatIntervalMs).toBeGreaterThan(0);
    expect(reg.heartbeatIntervalMs).toBeLessThan(10_000);
    clock.advance(9_000);
    expect((await c.heartbeat({ dataPlaneId: reg.dataPlaneId })).known).toBe(true);
    clock.advance(9_000);
    expect((await c.heartbeat({ dataPlaneId: reg.dataPlaneId })).known).toBe(true);
    clock.advance(10_001);
    expect((await c.heartbeat({ dataPlaneId: reg.dataPlaneId })).known).toBe(false);
    expect((await c.heartbeat({ dataPlaneId: 'dp_unknown' })).known).toBe(false);
    // Re-registering keeps the id the data plane asks for.
    const again = await c.registerDataPlane({ advertiseUrl: 'http://127.0.0.1:8001', backendId: 'local', dataPlaneId: reg.dataPlaneId });
    expect(again.dataPlaneId).toBe(reg.dataPlaneId);
    expect(await codeOf(c.registerDataPlane({ advertiseUrl: 'ftp://x', backendId: 'local' }))).toBe('InvalidArgument');
    expect(await codeOf(c.registerDataPlane({ advertiseUrl: 'http://x', backendId: '' }))).toBe('InvalidArgument');
  });

  it('authorizes writes: open package, normal path, free path unless replacing', async () => {
    const c = t.control();
    await c.registerDataPlane({ advertiseUrl: 'http://127.0.0.1:8001', backendId: 'local' });
    const ok = await c.authorizeWrite({ clientToken: TOKENS.ci, packageId: pkg, relativePath: 'dir/e\u0301.txt' });
    expect(ok).toMatchObject({ relativePath: 'dir/\u00e9.txt', backendId: 'local' });
    await recordText(c, TOKENS.ci, pkg, 'dir/\u00e9.txt', 'x');
    expect(await codeOf(c.authorizeWrite({ clientToken: TOKENS.ci, packageId: pkg, relativePath: 'dir/e\u0301.txt' }))).toBe('AlreadyExists');
    expect(await codeOf(c.authorizeWrite({ clientToken: TOKENS.ci, packageId: pkg, relativePath: 'dir/e\u0301.txt', replace: true }))).toBe('ok');
    expect(await codeOf(c.authorizeWrite({ clientToken: TOKENS.ci, packageId: pkg, relativePath: 'dir' }))).toBe('AlreadyExists');
    for (const bad of ['../x', '/abs', 'a\\b', 'a\u0000b', '']) expect(await codeOf(c.authorizeWrite({ clientToken: TOKENS.ci, packageId: pkg, relativePath: bad })), bad).toBe('InvalidArgument');
    expect(await codeOf(c.authorizeWrite({ clientToken: TOKENS.assess, packageId: pkg, relativePath: 'y' }))).toBe('NotFound');
    expect(await codeOf(c.authorizeWrite({ clientToken: 'not-a-configured-token-000', packageId: pkg, relativePath: 'y' }))).toBe('Unauthenticated');
  });

  it('records files and resolves reads to their storage locations', async () => {
    const c = t.control();
    const file = await recordText(c, TOKENS.ci, pkg, 'r/read.txt', 'read me');
    const d = digestsOf('read me');
    expect(file.digests).toMatchObject({ blake3: d.blake3, sha256: d.sha256, size: BigInt(d.size) });
    const byId = await c.resolveRead({ clientToken: TOKENS.ci, fileId: file.fileId });
    expect(byId.file?.relativePath).toBe('r/read.txt');
    expect(byId.locations).toEqual([expect.objectContaining({ backendId: 'local', storageKey: `blake3/${d.blake3.slice(7, 9)}/${d.blake3.slice(9, 11)}/${d.blake3.slice(7)}` })]);
    const byPath = await c.resolveRead({ clientToken: TOKENS.ci, packageId: pkg, relativePath: 'r/read.txt' });
    expect(byPath.file?.fileId).toBe(file.fileId);
    expect(await codeOf(c.resolveRead({ clientToken: TOKENS.ci, packageId: pkg, relativePath: 'r/missing.txt' }))).toBe('NotFound');
    expect(await codeOf(c.recordFile({ clientToken: TOKENS.ci, packageId: pkg, relativePath: 'z', digests: { blake3: 'blake3:00', sha256: d.sha256, size: 1n }, backendId: 'local', storageKey: 'k' }))).toBe('InvalidArgument');
    expect(await codeOf(c.recordFile({ clientToken: TOKENS.ci, packageId: pkg, relativePath: 'z', backendId: 'local', storageKey: 'k' }))).toBe('InvalidArgument');
  });

  it('runs upload sessions through created, completing, completed and aborted, as events', async () => {
    const c = t.control();
    const admin = t.registry('admin');
    const since = (await admin.listEvents({ since: 0n, limit: 1 })).headSequence;
    const created = await c.createUploadSession({ clientToken: TOKENS.ci, packageId: pkg, relativePath: 'up/big.bin', expectedSize: 5n, expectedSha256: digestsOf('12345').sha256 });
    const s = created.session!;
    expect(s).toMatchObject({ packageId: pkg, relativePath: 'up/big.bin', status: 'open', backendId: 'local', expectedSize: 5n, mediaType: 'application/octet-stream' });
    expect(s.uploadId).toMatch(/^upload_/);
    expect(s.stagingKey).toBe(`uploads/${s.uploadId.toLowerCase()}`);
    expect((await c.getUploadSession({ clientToken: TOKENS.ci, uploadId: s.uploadId })).session?.status).toBe('open');
    expect(await codeOf(c.getUploadSession({ clientToken: TOKENS.assess, uploadId: s.uploadId }))).toBe('NotFound');
    // A session is completed by recording its file with the completion's id, not by closing it.
    expect(await codeOf(c.closeUploadSession({ clientToken: TOKENS.ci, uploadId: s.uploadId, status: 'completed' }))).toBe('InvalidArgument');
    expect(await codeOf(recordText(c, TOKENS.ci, pkg, 'up/big.bin', '12345', false, { uploadId: s.uploadId, completionId: 'completion_x' }))).toBe('FailedPrecondition');
    const begun = await c.beginUploadCompletion({ clientToken: TOKENS.ci, uploadId: s.uploadId });
    expect(begun.session?.status).toBe('completing');
    expect(begun.completionId).toMatch(/^completion_/);
    expect(await codeOf(c.beginUploadCompletion({ clientToken: TOKENS.assess, uploadId: s.uploadId }))).toBe('NotFound');
    const file = await recordText(c, TOKENS.ci, pkg, 'up/big.bin', '12345', false, { uploadId: s.uploadId, completionId: begun.completionId });
    expect((await c.getUploadSession({ clientToken: TOKENS.ci, uploadId: s.uploadId })).session).toMatchObject({ status: 'completed', fileId: file.fileId });
    expect(await codeOf(c.closeUploadSession({ clientToken: TOKENS.ci, uploadId: s.uploadId, status: 'aborted' }))).toBe('FailedPrecondition');
    expect(await codeOf(c.closeUploadSession({ clientToken: TOKENS.ci, uploadId: s.uploadId, status: 'done' }))).toBe('InvalidArgument');

    const other = (await c.createUploadSession({ clientToken: TOKENS.ci, packageId: pkg, relativePath: 'up/other.bin' })).session!;
    expect((await c.closeUploadSession({ clientToken: TOKENS.ci, uploadId: other.uploadId, status: 'aborted' })).session?.status).toBe('aborted');
    expect(await codeOf(c.createUploadSession({ clientToken: TOKENS.ci, packageId: pkg, relativePath: 'up/big.bin' }))).toBe('AlreadyExists');

    const events = (await admin.listEvents({ since })).events;
    expect(events.map((e) => e.type)).toEqual(['v1.upload.created', 'v1.upload.completing', 'v1.file.added', 'v1.upload.completed', 'v1.upload.created', 'v1.upload.aborted']);
    const payload = decodeCanonical(events[0]!.payload) as Record<string, unknown>;
    expect(payload).toMatchObject({ upload_id: s.uploadId, package_id: pkg, relative_path: 'up/big.bin', expected_size: 5, backend_id: 'local' });
  });

  it('refuses writes to a finalized package', async () => {
    const p = (await t.registry('ci').createPackage({ producer: 'p', subject: 'fin', retentionClass: 'transient' })).package!.packageId;
    await t.registry('ci').finalizePackage({ packageId: p });
    const c = t.control();
    expect(await codeOf(c.authorizeWrite({ clientToken: TOKENS.ci, packageId: p, relativePath: 'late.txt' }))).toBe('FailedPrecondition');
    expect(await codeOf(recordText(c, TOKENS.ci, p, 'late.txt', 'late'))).toBe('FailedPrecondition');
    expect(await codeOf(c.createUploadSession({ clientToken: TOKENS.ci, packageId: p, relativePath: 'late.txt' }))).toBe('FailedPrecondition');
  });
});
