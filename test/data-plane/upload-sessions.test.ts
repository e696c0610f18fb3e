// Resumable upload sessions over plain HTTP (POST/PATCH/HEAD/complete/DELETE), real processes.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bytesOf, rawRequest, startCluster, TOKEN_A, TOKEN_B, type Cluster } from './cluster.ts';

const auth = (token = TOKEN_A): Record<string, string> => ({ authorization: `Bearer ${token}` });
const sha256 = (b: Uint8Array): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

let cluster: Cluster;
let url: string;
beforeAll(async () => {
  cluster = await startCluster();
  url = cluster.dataPlane.url;
});
afterAll(async () => {
  await cluster.close();
});

async function open(pkg: string, path: string, extra: Record<string, unknown> = {}): Promise<{ upload_id: string; url: string }> {
  const res = await fetch(`${url}/uploads`, { method: 'POST', headers: { ...auth(), 'content-type': 'application/json' }, body: JSON.stringify({ package_id: pkg, relative_path: path, ...extra }) });
  expect(res.status).toBe(201);
  const body = (await res.json()) as { upload_id: string; url: string; offset: number };
  expect(body.offset).toBe(0);
  expect(body.url).toBe(`${url}/uploads/${body.upload_id}`);
  expect(res.headers.get('location')).toBe(`/uploads/${body.upload_id}`);
  return body;
}

function patch(id: string, data: Uint8Array, start: number, total: number | '*', headers: Record<string, string> = auth()) {
  return rawRequest(url, 'PATCH', `/uploads/${id}`, { ...headers, 'content-range': `bytes ${start}-${start + data.byteLength - 1}/${total}`, 'content-length': String(data.byteLength) }, data);
}

async function offsetOf(id: string): Promise<number> {
  const res = await rawRequest(url, 'HEAD', `/uploads/${id}`, auth());
  expect(res.status).toBe(200);
  return Number(res.headers['upload-offset']);
}

async function stagedParts(): Promise<string[]> {
  return (await cluster.storedFiles()).filter((f) => f.startsWith('uploads/'));
}

describe('upload sessions', () => {
  it('uploads a file in 3 chunks and completes it', async () => {
    const pkg = await cluster.createPackage();
    const data = bytesOf(300_000, 21);
    const { upload_id: id } = await open(pkg, 'logs/run.log', { media_type: 'text/plain', expected_size: data.byteLength, expected_sha256: sha256(data) });
    expect(await offsetOf(id)).toBe(0);
    const cuts = [0, 100_000, 250_000, 300_000];
    for (let i = 0; i < 3; i++) {
      const res = await patch(id, data.subarray(cuts[i], cuts[i + 1]), cuts[i] ?? 0, data.byteLength);
      expect(res.status).toBe(204);
      expect(res.headers['upload-offset']).toBe(String(cuts[i + 1]));
      expect(res.headers['range']).toBe(`bytes=0-${(cuts[i + 1] ?? 0) - 1}`);
      expect(await offsetOf(id)).toBe(cuts[i + 1]);
    }
    expect(await stagedParts()).toHaveLength(3);
    const done = await fetch(`${url}/uploads/${id}/complete`, { method: 'POST', headers: auth() });
    expect(done.status).toBe(201);
    const file = (await done.json()) as { file_id: string; media_type: string; digests: { sha256: string; size: string } };
    expect(file.digests).toMatchObject({ sha256: sha256(data), size: '300000' });
    expect(file.media_type).toBe('text/plain');
    const back = await fetch(`${url}/files/${file.file_id}/download`, { headers: auth() });
    expect(Buffer.compare(new Uint8Array(await back.arrayBuffer()), data)).toBe(0);
    expect(await stagedParts()).toEqual([]);
    const head = await rawRequest(url, 'HEAD', `/uploads/${id}`, auth());
    expect(head.headers['upload-status']).toBe('completed');
    const again = await patch(id, data.subarray(0, 1), 0, '*');
    expect(again.status).toBe(409);
    expect(JSON.parse(again.body.toString())).toMatchObject({ code: 'upload-closed' });
  });

  it('answers a chunk at the wrong offset with 416 and the current offset; a repeated chunk too', async () => {
    const pkg = await cluster.createPackage();
    const data = bytesOf(30, 5);
    const { upload_id: id } = await open(pkg, 'x.bin');
    expect((await patch(id, data.subarray(0, 10), 0, '*')).status).toBe(204);
    const gap = await patch(id, data.subarray(20, 30), 20, '*');
    expect(gap.status).toBe(416);
    expect(gap.headers['upload-offset']).toBe('10');
    expect(gap.headers['range']).toBe('bytes=0-9');
    expect(gap.headers['content-type']).toBe('application/problem+json');
    expect(JSON.parse(gap.body.toString())).toMatchObject({ status: 416, code: 'offset-mismatch' });
    const repeat = await patch(id, data.subarray(0, 10), 0, '*');
    expect(repeat.status).toBe(416);
    expect(repeat.headers['upload-offset']).toBe('10');
    expect((await patch(id, data.subarray(10, 30), 10, 30)).status).toBe(204);
    const done = await fetch(`${url}/uploads/${id}/complete`, { method: 'POST', headers: auth() });
    expect(done.status).toBe(201);
    expect(((await done.json()) as { digests: { sha256: string } }).digests.sha256).toBe(sha256(data));
  });

  it.each([
    ['missing', undefined, '3'],
    ['not bytes', 'items 0-2/3', '3'],
    ['end before start', 'bytes 5-2/10', '3'],
    ['end past total', 'bytes 0-9/5', '10'],
    ['length differs', 'bytes 0-9/*', '3'],
    ['star range', 'bytes */10', '0'],
    ['spaces', 'bytes  0-2/3', '3'],
    ['leading zero', 'bytes 00-2/3', '3'],
  ])('refuses Content-Range %s with 400', async (_name, range, length) => {
    const pkg = await cluster.createPackage();
    const { upload_id: id } = await open(pkg, 'x.bin');
    const headers: Record<string, string> = { ...auth(), 'content-length': length };
    if (range !== undefined) headers['content-range'] = range;
    const body = Buffer.alloc(Number(length), 1);
    const res = await rawRequest(url, 'PATCH', `/uploads/${id}`, headers, body);
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body.toString())).toMatchObject({ code: 'invalid-content-range' });
    expect(await offsetOf(id)).toBe(0);
    expect(await stagedParts()).toEqual([]);
  });

  it('refuses a chunk whose total differs from the announced size', async () => {
    const pkg = await cluster.createPackage();
    const { upload_id: id } = await open(pkg, 'x.bin', { expected_size: 10 });
    const res = await patch(id, bytesOf(5), 0, 11);
    expect(res.status).toBe(400);
    const past = await patch(id, bytesOf(11), 0, '*');
    expect(past.status).toBe(400);
    expect(await stagedParts()).toEqual([]);
  });

  it('holds a session to the size the first Content-Range total declared', async () => {
    const pkg = await cluster.createPackage();
    const data = bytesOf(10, 77);
    const { upload_id: id } = await open(pkg, 'declared.bin');
    expect((await patch(id, data.subarray(0, 5), 0, 10)).status).toBe(204);
    const head = await rawRequest(url, 'HEAD', `/uploads/${id}`, auth());
    expect([head.headers['upload-offset'], head.headers['upload-length']]).toEqual(['5', '10']);
    // Completing short of it is refused, and the session stays open for the rest.
    const early = await rawRequest(url, 'POST', `/uploads/${id}/complete`, auth());
    expect([early.status, (JSON.parse(early.body.toString()) as { code: string }).code]).toEqual([422, 'size-mismatch']);
    // Another total, or bytes past the declared size, are refused.
    const other = await patch(id, data.subarray(5), 5, 20);
    expect([other.status, (JSON.parse(other.body.toString()) as { detail: string }).detail]).toEqual([400, expect.stringContaining('an earlier chunk declared') as unknown]);
    expect((await patch(id, bytesOf(6, 78), 5, '*')).status).toBe(400);
    expect(await offsetOf(id)).toBe(5);
    expect((await patch(id, data.subarray(5), 5, '*')).status).toBe(204);
    const done = await rawRequest(url, 'POST', `/uploads/${id}/complete`, auth());
    expect(done.status).toBe(201);
    expect((JSON.parse(done.body.toString()) as { digests: { sha256: string } }).digests.sha256).toBe(sha256(data));
    expect(await stagedParts()).toEqual([]);
  });

  it('aborts a session and leaves no parts', async () => {
    const pkg = await cluster.createPackage();
    const { upload_id: id } = await open(pkg, 'gone.bin');
    expect((await patch(id, bytesOf(1000), 0, '*')).status).toBe(204);
    expect((await patch(id, bytesOf(1000, 2), 1000, '*')).status).toBe(204);
    expect(await stagedParts()).toHaveLength(2);
    const del = await rawRequest(url, 'DELETE', `/uploads/${id}`, auth());
    expect(del.status).toBe(204);
    expect(await stagedParts()).toEqual([]);
    const after = await patch(id, bytesOf(10), 2000, '*');
    expect(after.status).toBe(409);
    const complete = await fetch(`${url}/uploads/${id}/complete`, { method: 'POST', headers: auth() });
    expect(complete.status).toBe(409);
    await complete.body?.cancel();
    const { files } = await cluster.registry.listFiles({ packageId: pkg });
    expect(files).toEqual([]);
  });

  it('rejects a completed upload whose bytes do not match the expected digest, recording nothing', async () => {
    const pkg = await cluster.createPackage();
    const before = (await cluster.storedFiles()).filter((f) => !f.startsWith('uploads/'));
    const { upload_id: id } = await open(pkg, 'bad.bin', { expected_sha256: sha256(bytesOf(100, 9)) });
    expect((await patch(id, bytesOf(100, 8), 0, 100)).status).toBe(204);
    const res = await fetch(`${url}/uploads/${id}/complete`, { method: 'POST', headers: auth() });
    expect(res.status).toBe(422);
    expect(((await res.json()) as { code: string }).code).toBe('digest-mismatch');
    expect((await cluster.registry.listFiles({ packageId: pkg })).files).toEqual([]);
    expect((await cluster.storedFiles()).filter((f) => !f.startsWith('uploads/'))).toEqual(before);
    expect((await rawRequest(url, 'DELETE', `/uploads/${id}`, auth())).status).toBe(204);
    expect(await stagedParts()).toEqual([]);
  });

  it('refuses sessions to foreign or missing tokens', async () => {
    const pkg = await cluster.createPackage();
    const foreign = await fetch(`${url}/uploads`, { method: 'POST', headers: auth(TOKEN_B), body: JSON.stringify({ package_id: pkg, relative_path: 'a' }) });
    expect(foreign.status).toBe(404);
    await foreign.body?.cancel();
    const { upload_id: id } = await open(pkg, 'a.bin');
    const stolen = await patch(id, bytesOf(10), 0, '*', auth(TOKEN_B));
    expect(stolen.status).toBe(404);
    const anonymous = await patch(id, bytesOf(10), 0, '*', {});
    expect(anonymous.status).toBe(401);
    expect(await stagedParts()).toEqual([]);
    expect((await rawRequest(url, 'DELETE', `/uploads/${id}`, auth(TOKEN_B))).status).toBe(404);
    expect(await offsetOf(id)).toBe(0);
  });

  it.each([
    ['not JSON', '{'],
    ['array', '[]'],
    ['unknown field', JSON.stringify({ package_id: 'p', relative_path: 'a', colour: 'red' })],
    ['missing path', JSON.stringify({ package_id: 'p' })],
    ['bad size', JSON.stringify({ package_id: 'p', relative_path: 'a', expected_size: -1 })],
    ['bad replace', JSON.stringify({ package_id: 'p', relative_path: 'a', replace: 'yes' })],
  ])('refuses a malformed POST /uploads body (%s) with 400', async (_name, body) => {
    const res = await fetch(`${url}/uploads`, { method: 'POST', headers: auth(), body });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { code: string }).code).toBe('bad-request');
  });

  it('refuses a traversal path when opening a session', async () => {
    const pkg = await cluster.createPackage();
    const res = await fetch(`${url}/uploads`, { method: 'POST', headers: auth(), body: JSON.stringify({ package_id: pkg, relative_path: '../etc/passwd' }) });
    expect(res.status).toBe(400);
    await res.body?.cancel();
  });
});
