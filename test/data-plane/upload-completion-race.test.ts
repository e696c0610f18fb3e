// A completion and what races it (data-plane/files/upload-sessions.ts): the session is marked completing
// before the parts are listed, and the file is recorded only while that completion is still the
// session's. So an abort answered 204 leaves no file, two completions record one file, no chunk answered
// 204 is left out of the file, and a completion that fails reopens the session. The races are forced by a
// backend whose commits first run a hook: the object commit (after the parts were read and hashed) or a
// part's commit.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { withCommitHooks, type CommitHooks } from './commit-hooks.ts';
import { bytesOf, rawRequest, startCluster, type Cluster, type RawResponse } from './cluster.ts';
import { AUTH_A, openSession, patchChunk, problemCode, sessionParts, uploadEvents } from './upload-client.ts';

const hooks: CommitHooks = new Map();

let cluster: Cluster;
let url: string;
beforeAll(async () => {
  cluster = await startCluster({ wrapBackend: (inner) => withCommitHooks(inner, hooks) });
  url = cluster.dataPlane.url;
});
afterAll(() => cluster?.close());

const complete = (id: string): Promise<RawResponse> => rawRequest(url, 'POST', `/uploads/${id}/complete`, AUTH_A);
const head = (id: string): Promise<RawResponse> => rawRequest(url, 'HEAD', `/uploads/${id}`, AUTH_A);
const sha256 = (bytes: Uint8Array): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

async function filesOf(packageId: string): Promise<{ path: string; size: number }[]> {
  return (await cluster.registry.listFiles({ packageId })).files.map((f) => ({ path: f.relativePath, size: Number(f.digests?.size ?? 0n) }));
}

/** Waits until the session reports one of `statuses` (HEAD). */
async function until(id: string, ...statuses: string[]): Promise<void> {
  for (let i = 0; i < 3000; i++) {
    if (statuses.includes(String((await head(id)).headers['upload-status']))) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`upload ${id} never became ${statuses.join(' or ')}`);
}

it('leaves no file when the session is aborted while its completion stores it', async () => {
  const pkg = await cluster.createPackage();
  const session = await openSession(cluster, pkg, 'aborted.bin');
  expect((await patchChunk(cluster, session.upload_id, bytesOf(5000, 1), 0)).status).toBe(204);
  let aborted: RawResponse | undefined;
  hooks.set('blake3/', async () => {
    aborted = await rawRequest(url, 'DELETE', `/uploads/${session.upload_id}`, AUTH_A);
  });
  const done = await complete(session.upload_id);
  expect(aborted?.status).toBe(204);
  expect(done.status).toBe(409);
  expect(problemCode(done.body)).toBe('upload-closed');
  expect(await filesOf(pkg)).toEqual([]);
  expect(await uploadEvents(cluster, session.upload_id)).toEqual(['v1.upload.created', 'v1.upload.completing', 'v1.upload.aborted']);
  expect(await sessionParts(cluster, session.upload_id)).toEqual([]);
});

it('records one file when two completions run at once', async () => {
  const pkg = await cluster.createPackage();
  const session = await openSession(cluster, pkg, 'twice.bin');
  expect((await patchChunk(cluster, session.upload_id, bytesOf(5000, 2), 0)).status).toBe(204);
  let second: RawResponse | undefined;
  // The first completion has hashed the parts; the second begins (taking over), finishes, then the first goes on.
  hooks.set('blake3/', async () => {
    second = await complete(session.upload_id);
  });
  const first = await complete(session.upload_id);
  expect(second?.status, second?.body.toString()).toBe(201);
  expect(first.status).toBe(409);
  expect(problemCode(first.body)).toBe('upload-closed');
  expect(await filesOf(pkg)).toEqual([{ path: 'twice.bin', size: 5000 }]);
  expect(await uploadEvents(cluster, session.upload_id)).toEqual(['v1.upload.created', 'v1.upload.completing', 'v1.upload.completing', 'v1.upload.completed']);
});

it('refuses a chunk sent while the session completes, and records the bytes acknowledged before', async () => {
  const pkg = await cluster.createPackage();
  const session = await openSession(cluster, pkg, 'late-chunk.bin');
  expect((await patchChunk(cluster, session.upload_id, bytesOf(1000, 3), 0)).status).toBe(204);
  let late: RawResponse | undefined;
  hooks.set('blake3/', async () => {
    late = await patchChunk(cluster, session.upload_id, bytesOf(500, 4), 1000);
  });
  const done = await complete(session.upload_id);
  expect(late?.status).toBe(409);
  expect(problemCode(late?.body ?? Buffer.alloc(0))).toBe('upload-closed');
  expect(done.status).toBe(201);
  expect(await filesOf(pkg)).toEqual([{ path: 'late-chunk.bin', size: 1000 }]);
});

it('never leaves out a chunk answered 204: one stored as the completion begins is refused, and the file says whether it holds it', async () => {
  const pkg = await cluster.createPackage();
  const first = bytesOf(1000, 5);
  const second = bytesOf(700, 6);
  const session = await openSession(cluster, pkg, 'in-flight.bin');
  expect((await patchChunk(cluster, session.upload_id, first, 0)).status).toBe(204);
  let completing: Promise<RawResponse> | undefined;
  // The second chunk's part commits only once a completion has begun (on a loaded machine it may even
  // have finished by the time the poll looks).
  hooks.set(`uploads/${session.upload_id.toLowerCase()}/`, async () => {
    completing = complete(session.upload_id);
    await until(session.upload_id, 'completing', 'completed');
  });
  const chunk = await patchChunk(cluster, session.upload_id, second, 1000);
  expect(chunk.status).toBe(409);
  expect(problemCode(chunk.body)).toBe('upload-closed');
  const done = await (completing as Promise<RawResponse>);
  expect(done.status, done.body.toString()).toBe(201);
  const file = JSON.parse(done.body.toString()) as { file_id: string; digests: { size: string; sha256: string } };
  // The completion may have listed the refused chunk's part or not; the file is exactly one of the two.
  const whole = Buffer.concat([first, second]);
  const size = Number(file.digests.size);
  expect([1000, 1700]).toContain(size);
  expect(file.digests.sha256).toBe(sha256(whole.subarray(0, size)));
  // What a client that lost the answer can learn: the status names the file and its size.
  const status = await head(session.upload_id);
  expect(status.headers['upload-status']).toBe('completed');
  expect(status.headers['upload-file-id']).toBe(file.file_id);
  const query = await cluster.grpc.queryWriteStatus({ uploadId: session.upload_id });
  expect([query.complete, Number(query.committedSize), query.fileId]).toEqual([true, size, file.file_id]);
  expect(await sessionParts(cluster, session.upload_id)).toEqual([]);
});

it('reopens the session when its completion fails, for the rest of the bytes and another completion', async () => {
  const pkg = await cluster.createPackage();
  const data = bytesOf(3000, 7);
  const res = await rawRequest(url, 'POST', '/uploads', { ...AUTH_A, 'content-type': 'application/json' }, Buffer.from(JSON.stringify({ package_id: pkg, relative_path: 'early.bin', expected_sha256: sha256(data) })));
  const { upload_id: id } = JSON.parse(res.body.toString()) as { upload_id: string };
  expect((await patchChunk(cluster, id, data.subarray(0, 1000), 0)).status).toBe(204);
  const early = await complete(id);
  expect(early.status).toBe(422);
  expect(problemCode(early.body)).toBe('digest-mismatch');
  const status = await head(id);
  expect([status.headers['upload-status'], status.headers['upload-offset']]).toEqual(['open', '1000']);
  expect((await patchChunk(cluster, id, data.subarray(1000), 1000)).status).toBe(204);
  expect((await complete(id)).status).toBe(201);
  expect(await filesOf(pkg)).toEqual([{ path: 'early.bin', size: 3000 }]);
  expect(await uploadEvents(cluster, id)).toEqual(['v1.upload.created', 'v1.upload.completing', 'v1.upload.completion_failed', 'v1.upload.completing', 'v1.upload.completed']);
});
