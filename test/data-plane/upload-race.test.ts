// A chunk whose part lands while its session is being closed must not leave the part behind: after
// storing a part the data plane reads the session again, and if it was aborted or expired meanwhile it
// deletes the part itself and refuses the chunk (data-plane/files/upload-sessions.ts). The race is forced
// by a backend whose part commits first run a hook (the close), then commit.
import { once } from 'node:events';
import { connect } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createSystemClock, type Clock } from '../../core/time/clock.ts';
import { UPLOAD_EXPIRY_GRACE_MS } from '../../control-plane/registry/upload-sessions.ts';
import type { StorageBackend } from '../../data-plane/storage/backend.ts';
import { withCommitHooks, type CommitHooks } from './commit-hooks.ts';
import { bytesOf, rawRequest, startCluster, type Cluster } from './cluster.ts';
import { AUTH_A, openSession, patchChunk, problemCode, sessionParts, uploadEvents } from './upload-client.ts';

const auth = AUTH_A;
const system = createSystemClock();
let shiftMs = 0;
const shifted: Clock = { now: () => new Date(system.now().getTime() + shiftMs) };
/** Runs before the next part (a key under uploads/) is committed, once. */
const hooks: CommitHooks = new Map();
const beforePartCommit = (hook: () => Promise<void>): void => void hooks.set('uploads/', hook);
/** Runs before the next declared size is stored, once. */
let beforeDeclare: (() => Promise<void>) | undefined;
/** Settles once the declared size stored after `beforeDeclare` ran is stored or refused. */
let declareSettled: Promise<unknown> = Promise.resolve();
const withDeclareHook = (inner: StorageBackend): StorageBackend => ({
  ...inner,
  putObjects(objects, options) {
    const hook = beforeDeclare;
    if (hook === undefined || !objects.some((o) => o.key.endsWith('/declared-size'))) return inner.putObjects(objects, options);
    beforeDeclare = undefined;
    const stored = (async () => {
      await hook();
      return inner.putObjects(objects, options);
    })();
    declareSettled = stored.catch(() => undefined);
    return stored;
  },
});

let cluster: Cluster;
let url: string;
beforeAll(async () => {
  cluster = await startCluster({ wrapBackend: (inner) => withDeclareHook(withCommitHooks(inner, hooks)), controlPlaneClock: shifted });
  url = cluster.dataPlane.url;
});
afterAll(() => cluster?.close());

it('deletes a part that landed while its session was aborted, and refuses the chunk', async () => {
  shiftMs = 0;
  const pkg = await cluster.createPackage();
  const session = await openSession(cluster, pkg, 'raced.bin');
  expect((await patchChunk(cluster, session.upload_id, bytesOf(100, 1), 0)).status).toBe(204);
  beforePartCommit(async () => {
    expect((await rawRequest(url, 'DELETE', `/uploads/${session.upload_id}`, auth)).status).toBe(204);
  });
  const late = await patchChunk(cluster, session.upload_id, bytesOf(100, 2), 100);
  expect(hooks.size).toBe(0); // the hook ran
  expect(late.status).toBe(409);
  expect(problemCode(late.body)).toBe('upload-closed');
  expect(await sessionParts(cluster, session.upload_id)).toEqual([]);
  expect(await uploadEvents(cluster, session.upload_id)).toEqual(['v1.upload.created', 'v1.upload.aborted']);
});

it('records the expiry and deletes the part when the session became purgeable while the part landed', async () => {
  shiftMs = 0;
  const pkg = await cluster.createPackage();
  const session = await openSession(cluster, pkg, 'late.bin');
  beforePartCommit(() => {
    shiftMs = Date.parse(session.expires_at) + UPLOAD_EXPIRY_GRACE_MS - system.now().getTime() + 1000;
    return Promise.resolve();
  });
  const late = await patchChunk(cluster, session.upload_id, bytesOf(100, 3), 0);
  expect(hooks.size).toBe(0);
  expect(late.status).toBe(410);
  expect(problemCode(late.body)).toBe('upload-expired');
  expect(await sessionParts(cluster, session.upload_id)).toEqual([]);
  expect(await uploadEvents(cluster, session.upload_id)).toEqual(['v1.upload.created', 'v1.upload.expired']);
});

it('tells the loser of two chunks of different lengths at one offset 409 conflict (not storage damage)', async () => {
  shiftMs = 0;
  const pkg = await cluster.createPackage();
  const session = await openSession(cluster, pkg, 'two-lengths.bin');
  let retry: Awaited<ReturnType<typeof patchChunk>> | undefined;
  // A retry with a smaller chunk lands while the first is about to commit.
  beforePartCommit(async () => {
    retry = await patchChunk(cluster, session.upload_id, bytesOf(50, 9), 0);
  });
  const first = await patchChunk(cluster, session.upload_id, bytesOf(100, 1), 0);
  expect(retry?.status).toBe(204);
  expect([first.status, problemCode(first.body)]).toEqual([409, 'conflict']);
});

it('leaves nothing of a chunk behind (its declared size) when the session is aborted while the chunk fails', async () => {
  shiftMs = 0;
  const pkg = await cluster.createPackage();
  const session = await openSession(cluster, pkg, 'declared-then-cut.bin');
  let aborted = 0;
  // The session is aborted just before the chunk records its declared size; then its body is cut.
  beforeDeclare = async () => {
    aborted = (await rawRequest(url, 'DELETE', `/uploads/${session.upload_id}`, auth)).status;
  };
  const socket = connect(Number(new URL(url).port), '127.0.0.1');
  await once(socket, 'connect');
  socket.write(`PATCH /uploads/${session.upload_id} HTTP/1.1\r\nHost: x\r\nAuthorization: ${auth.authorization}\r\nContent-Range: bytes 0-99/100\r\nContent-Length: 100\r\n\r\n`);
  socket.write(bytesOf(60, 3));
  for (let i = 0; i < 200 && aborted === 0; i++) await new Promise((r) => setTimeout(r, 20));
  expect(aborted).toBe(204);
  socket.destroy();
  // Until the declared size is stored (a busy machine may take longer than the wait above), the parts
  // are empty because nothing was written yet, not because the failing chunk removed them.
  await declareSettled;
  for (let i = 0; i < 200 && (await sessionParts(cluster, session.upload_id)).length > 0; i++) await new Promise((r) => setTimeout(r, 50));
  expect(await sessionParts(cluster, session.upload_id)).toEqual([]);
});
