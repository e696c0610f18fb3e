// An upload session that passes its deadline (24 h) refuses chunks, completion and status with 410
// upload-expired. An hour later (the grace period for completions that started in time) the first
// request to meet it records the expiry and deletes its parts; an abort succeeds throughout. Real
// processes; the control plane's clock is moved instead of waiting a day.
import { create } from '@bufbuild/protobuf';
import { timestampDate } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError } from '@connectrpc/connect';
import { createAsyncIterable } from '@connectrpc/connect/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODE_HEADER } from '../../data-plane/errors/classify-error.ts';
import { createSystemClock, type Clock } from '../../core/time/clock.ts';
import { UPLOAD_EXPIRY_GRACE_MS, UPLOAD_SESSION_TTL_MS } from '../../control-plane/registry/upload-sessions.ts';
import { WriteFileRequestSchema, type WriteFileRequest } from '../../gen/artifactstore/v1/data_plane_service_pb.ts';
import { rejectionOf } from '../support/rejection.ts';
import { bytesOf, rawRequest, startCluster, type Cluster } from './cluster.ts';
import { AUTH_A, openSession, patchChunk, problemCode, sessionParts, uploadEvents } from './upload-client.ts';

const auth = AUTH_A;
const system = createSystemClock();
let shiftMs = 0;
/** The system clock moved forward by `shiftMs`. */
const shifted: Clock = { now: () => new Date(system.now().getTime() + shiftMs) };

let cluster: Cluster;
let url: string;
beforeAll(async () => {
  cluster = await startCluster({ controlPlaneClock: shifted });
  url = cluster.dataPlane.url;
});
afterAll(async () => {
  await cluster.close();
});

/** A WriteFile stream continuing session `uploadId` at `offset`. */
function resumeStream(uploadId: string, offset: bigint, data: Uint8Array): AsyncIterable<WriteFileRequest> {
  return createAsyncIterable([create(WriteFileRequestSchema, { kind: { case: 'header', value: { uploadId, writeOffset: offset } } }), create(WriteFileRequestSchema, { kind: { case: 'data', value: data } })]);
}


describe('upload session expiry', () => {
  it('tells the client the deadline, then refuses chunks, completion and status once it passed', async () => {
    shiftMs = 0;
    const pkg = await cluster.createPackage();
    const before = system.now().getTime();
    const session = await openSession(cluster, pkg, 'slow/upload.bin');
    const deadline = Date.parse(session.expires_at);
    expect(session.header).toBe(session.expires_at);
    expect(deadline - before).toBeGreaterThanOrEqual(UPLOAD_SESSION_TTL_MS - 1000);
    expect(deadline - before).toBeLessThanOrEqual(UPLOAD_SESSION_TTL_MS + 60_000);
    expect((await patchChunk(cluster, session.upload_id, bytesOf(1000, 1), 0)).status).toBe(204);
    const head = await rawRequest(url, 'HEAD', `/uploads/${session.upload_id}`, auth);
    expect(head.headers['upload-expires']).toBe(session.expires_at);
    const status = await cluster.grpc.queryWriteStatus({ uploadId: session.upload_id });
    expect(status.expiresAt === undefined ? undefined : timestampDate(status.expiresAt).toISOString()).toBe(session.expires_at);
    expect(await sessionParts(cluster, session.upload_id)).toHaveLength(1);

    // Past the deadline: refused, but the parts stay through the grace period and nothing is recorded.
    shiftMs = deadline - system.now().getTime() + 1000;
    const late = await patchChunk(cluster, session.upload_id, bytesOf(1000, 2), 1000);
    expect(late.status).toBe(410);
    expect(problemCode(late.body)).toBe('upload-expired');
    expect((JSON.parse(late.body.toString()) as { detail: string }).detail).toContain(`expired at ${session.expires_at}`);
    expect(await sessionParts(cluster, session.upload_id)).toHaveLength(1);
    expect(await uploadEvents(cluster, session.upload_id)).toEqual(['v1.upload.created']);

    // Past the grace period: the next request records the expiry and deletes the parts.
    shiftMs = deadline + UPLOAD_EXPIRY_GRACE_MS - system.now().getTime() + 1000;
    const later = await patchChunk(cluster, session.upload_id, bytesOf(1000, 2), 1000);
    expect(later.status).toBe(410);
    expect(problemCode(later.body)).toBe('upload-expired');
    expect(await sessionParts(cluster, session.upload_id)).toEqual([]);

    const gone = await rawRequest(url, 'HEAD', `/uploads/${session.upload_id}`, auth);
    expect(gone.status).toBe(410);
    const complete = await rawRequest(url, 'POST', `/uploads/${session.upload_id}/complete`, auth);
    expect(complete.status).toBe(410);
    expect(problemCode(complete.body)).toBe('upload-expired');
    const grpc = await rejectionOf(cluster.grpc.queryWriteStatus({ uploadId: session.upload_id }), ConnectError);
    expect(grpc.code).toBe(Code.FailedPrecondition);
    expect(grpc.metadata.get(ERROR_CODE_HEADER)).toBe('upload-expired');
    const resumed = await rejectionOf(cluster.grpc.writeFile(resumeStream(session.upload_id, 1000n, bytesOf(10, 5))), ConnectError);
    expect(resumed.metadata.get(ERROR_CODE_HEADER)).toBe('upload-expired');
    // Recorded once, however many requests met it; nothing was added to the package.
    expect(await uploadEvents(cluster, session.upload_id)).toEqual(['v1.upload.created', 'v1.upload.expired']);
    const { files } = await cluster.registry.listFiles({ packageId: pkg });
    expect(files).toEqual([]);
    // An abort of an expired session succeeds and changes nothing more.
    expect((await rawRequest(url, 'DELETE', `/uploads/${session.upload_id}`, auth)).status).toBe(204);
    expect(await uploadEvents(cluster, session.upload_id)).toEqual(['v1.upload.created', 'v1.upload.expired']);
  });

  it('takes an abort in the grace period as an abort, and after it records the expiry', async () => {
    shiftMs = 0;
    const pkg = await cluster.createPackage();
    const aborted = await openSession(cluster, pkg, 'aborted.bin');
    const dropped = await openSession(cluster, pkg, 'dropped.bin');
    for (const s of [aborted, dropped]) expect((await patchChunk(cluster, s.upload_id, bytesOf(10, 3), 0)).status).toBe(204);
    shiftMs = Date.parse(aborted.expires_at) - system.now().getTime() + 1000;
    expect((await rawRequest(url, 'DELETE', `/uploads/${aborted.upload_id}`, auth)).status).toBe(204);
    expect(await sessionParts(cluster, aborted.upload_id)).toEqual([]);
    expect(await uploadEvents(cluster, aborted.upload_id)).toEqual(['v1.upload.created', 'v1.upload.aborted']);
    shiftMs = Date.parse(dropped.expires_at) + UPLOAD_EXPIRY_GRACE_MS - system.now().getTime() + 1000;
    expect((await rawRequest(url, 'DELETE', `/uploads/${dropped.upload_id}`, auth)).status).toBe(204);
    expect(await sessionParts(cluster, dropped.upload_id)).toEqual([]);
    expect(await uploadEvents(cluster, dropped.upload_id)).toEqual(['v1.upload.created', 'v1.upload.expired']);
  });

  it('keeps a session open right up to its deadline', async () => {
    shiftMs = 0;
    const pkg = await cluster.createPackage();
    const data = bytesOf(2000, 4);
    const session = await openSession(cluster, pkg, 'in-time.bin');
    expect((await patchChunk(cluster, session.upload_id, data.subarray(0, 1000), 0)).status).toBe(204);
    shiftMs = Date.parse(session.expires_at) - system.now().getTime() - 30_000;
    expect((await patchChunk(cluster, session.upload_id, data.subarray(1000), 1000)).status).toBe(204);
    expect((await rawRequest(url, 'HEAD', `/uploads/${session.upload_id}`, auth)).headers['upload-offset']).toBe('2000');
    // Completing routes the file to a live data plane, and a day's jump makes the last heartbeat look a
    // day old: complete at the real time (the registry test covers a completion straddling the deadline).
    shiftMs = 0;
    const done = await rawRequest(url, 'POST', `/uploads/${session.upload_id}/complete`, auth);
    expect(done.status).toBe(201);
    expect(await uploadEvents(cluster, session.upload_id)).toEqual(['v1.upload.created', 'v1.upload.completing', 'v1.upload.completed']);
  });
});
