// A chunk whose part lands while its session is being closed must not leave the part behind: after
// storing a part the data plane reads the session again, and if it was aborted or expired meanwhile it
// deletes the part itself and refuses the chunk (data-plane/files/upload-sessions.ts). The race is forced
// by a backend whose part commits first run a hook (the close), then commit.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createSystemClock, type Clock } from '../../core/time/clock.ts';
import { UPLOAD_EXPIRY_GRACE_MS } from '../../control-plane/registry/upload-sessions.ts';
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

let cluster: Cluster;
let url: string;
beforeAll(async () => {
  cluster = await startCluster({ wrapBackend: (inner) => withCommitHooks(inner, hooks), controlPlaneClock: shifted });
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
