// Single-shot PUT and downloads over plain HTTP, against a real control plane and data plane.
import { createHash } from 'node:crypto';
import { chmod, stat, truncate } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { connect as http2Connect, type IncomingHttpHeaders as H2Headers } from 'node:http2';
import { hash as blake3 } from 'blake3';
import { Code, ConnectError } from '@connectrpc/connect';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rejectionOf } from '../support/rejection.ts';
import { bytesOf, rawRequest, startCluster, TOKEN_A, TOKEN_B, type Cluster } from './cluster.ts';

const auth = (token = TOKEN_A): Record<string, string> => ({ authorization: `Bearer ${token}` });
const sha256 = (b: Uint8Array): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const b3 = (b: Uint8Array): string => `blake3:${Buffer.from(blake3(b)).toString('hex')}`;

let cluster: Cluster;
let url: string;
beforeAll(async () => {
  cluster = await startCluster();
  url = cluster.dataPlane.url;
});
afterAll(async () => {
  await cluster.close();
});

async function put(pkg: string, path: string, body: Uint8Array, headers: Record<string, string> = auth()): Promise<Response> {
  return fetch(`${url}/packages/${pkg}/files/${path}`, { method: 'PUT', body, headers });
}

async function listFiles(pkg: string): Promise<string[]> {
  const { files } = await cluster.registry.listFiles({ packageId: pkg });
  return files.map((f) => f.relativePath);
}

describe('PUT then GET', () => {
  const data = bytesOf(1000, 7);
  let pkg: string;
  let fileId: string;
  let etag: string;

  beforeAll(async () => {
    pkg = await cluster.createPackage();
    const res = await put(pkg, 'dir/report.json', data, { ...auth(), 'content-type': 'application/json', 'x-artifact-sha256': sha256(data), 'x-artifact-blake3': b3(data) });
    expect(res.status).toBe(201);
    expect(res.headers.get('content-type')).toBe('application/json');
    const file = (await res.json()) as { file_id: string; relative_path: string; media_type: string; digests: { blake3: string; sha256: string; size: string } };
    expect(file).toMatchObject({ relative_path: 'dir/report.json', media_type: 'application/json', digests: { blake3: b3(data), sha256: sha256(data), size: '1000' } });
    fileId = file.file_id;
    etag = `"${b3(data)}"`;
  });

  it('serves the bytes back exactly, with both digests', async () => {
    for (const path of [`/packages/${pkg}/files/dir/report.json`, `/files/${fileId}/download`]) {
      const res = await fetch(url + path, { headers: auth() });
      expect(res.status).toBe(200);
      const body = new Uint8Array(await res.arrayBuffer());
      expect(Buffer.compare(body, data)).toBe(0);
      expect(res.headers.get('etag')).toBe(etag);
      expect(res.headers.get('x-artifact-sha256')).toBe(sha256(body));
      expect(res.headers.get('etag')).toBe(`"${b3(body)}"`);
      expect(res.headers.get('content-length')).toBe('1000');
      expect(res.headers.get('content-type')).toBe('application/json');
      expect(res.headers.get('accept-ranges')).toBe('bytes');
    }
    expect(await listFiles(pkg)).toEqual(['dir/report.json']);
    expect(await cluster.storedFiles()).toContain(`blake3/${b3(data).slice(7, 9)}/${b3(data).slice(9, 11)}/${b3(data).slice(7)}`);
  });

  it.each([
    ['bytes=0-9', 0, 10],
    ['bytes=100-199', 100, 200],
    ['bytes=-50', 950, 1000],
    ['bytes=990-', 990, 1000],
    ['bytes=995-5000', 995, 1000],
  ])('serves Range %s as 206', async (range, start, end) => {
    const res = await rawRequest(url, 'GET', `/files/${fileId}/download`, { ...auth(), range });
    expect(res.status).toBe(206);
    expect(res.headers['content-range']).toBe(`bytes ${start}-${end - 1}/1000`);
    expect(res.headers['content-length']).toBe(String(end - start));
    expect(Buffer.compare(res.body, data.subarray(start, end))).toBe(0);
  });

  it.each(['bytes=1000-', 'bytes=5000-6000', 'bytes=-0'])('answers unsatisfiable Range %s with 416 and bytes */size', async (range) => {
    const res = await rawRequest(url, 'GET', `/files/${fileId}/download`, { ...auth(), range });
    expect(res.status).toBe(416);
    expect(res.headers['content-range']).toBe('bytes */1000');
    expect(res.headers['content-type']).toBe('application/problem+json');
    expect(JSON.parse(res.body.toString())).toMatchObject({ status: 416, code: 'range-not-satisfiable' });
  });

  // Documented choice (ADR 0008): several ranges, or a malformed header, get the whole file with 200.
  it.each(['bytes=0-1,5-6', 'bytes=5-2', 'items=0-1', 'bytes=abc'])('serves the whole file for Range %s', async (range) => {
    const res = await rawRequest(url, 'GET', `/files/${fileId}/download`, { ...auth(), range });
    expect(res.status).toBe(200);
    expect(res.headers['content-range']).toBeUndefined();
    expect(Buffer.compare(res.body, data)).toBe(0);
  });

  it('answers If-None-Match with 304 (strong, weak, list, *)', async () => {
    for (const value of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
      const res = await rawRequest(url, 'GET', `/packages/${pkg}/files/dir/report.json`, { ...auth(), 'if-none-match': value });
      expect(res.status).toBe(304);
      expect(res.body.byteLength).toBe(0);
      expect(res.headers['etag']).toBe(etag);
    }
    const miss = await rawRequest(url, 'GET', `/packages/${pkg}/files/dir/report.json`, { ...auth(), 'if-none-match': '"blake3:00"' });
    expect(miss.status).toBe(200);
  });

  it('ignores Range when If-Range does not match', async () => {
    const res = await rawRequest(url, 'GET', `/files/${fileId}/download`, { ...auth(), range: 'bytes=0-9', 'if-range': '"blake3:00"' });
    expect(res.status).toBe(200);
    expect(res.body.byteLength).toBe(1000);
    const match = await rawRequest(url, 'GET', `/files/${fileId}/download`, { ...auth(), range: 'bytes=0-9', 'if-range': etag });
    expect(match.status).toBe(206);
  });

  it('answers HEAD with the headers and no body', async () => {
    const res = await rawRequest(url, 'HEAD', `/files/${fileId}/download`, auth());
    expect(res.status).toBe(200);
    expect(res.headers['content-length']).toBe('1000');
    expect(res.headers['etag']).toBe(etag);
    expect(res.body.byteLength).toBe(0);
  });

  it('refuses a second file at the same path unless replace=true', async () => {
    const other = bytesOf(10, 99);
    const dup = await put(pkg, 'dir/report.json', other);
    expect(dup.status).toBe(409);
    expect(((await dup.json()) as { code: string }).code).toBe('already-exists');
    const replaced = await fetch(`${url}/packages/${pkg}/files/dir/report.json?replace=true`, { method: 'PUT', body: other, headers: auth() });
    expect(replaced.status).toBe(201);
    const res = await fetch(`${url}/packages/${pkg}/files/dir/report.json`, { headers: auth() });
    expect(Buffer.compare(new Uint8Array(await res.arrayBuffer()), other)).toBe(0);
    // The old file id still reads the old bytes.
    const old = await fetch(`${url}/files/${fileId}/download`, { headers: auth() });
    expect([200, 404]).toContain(old.status);
    await old.body?.cancel();
  });
});

describe('rejected uploads store nothing', () => {
  it('refuses a digest mismatch with 422 problem+json; nothing recorded or stored', async () => {
    const pkg = await cluster.createPackage();
    const before = await cluster.storedFiles();
    const data = bytesOf(5000, 3);
    for (const [name, value] of [
      ['x-artifact-sha256', sha256(bytesOf(5000, 4))],
      ['x-artifact-blake3', b3(bytesOf(5000, 4))],
    ] as const) {
      const res = await put(pkg, 'bad.bin', data, { ...auth(), [name]: value });
      expect(res.status).toBe(422);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      const problem = (await res.json()) as Record<string, unknown>;
      expect(problem).toMatchObject({ status: 422, code: 'digest-mismatch', title: 'Digest mismatch' });
      expect(typeof problem['type']).toBe('string');
      expect(typeof problem['detail']).toBe('string');
    }
    expect(await listFiles(pkg)).toEqual([]);
    expect(await cluster.storedFiles()).toEqual(before);
  });

  it('refuses a malformed expected digest with 400', async () => {
    const pkg = await cluster.createPackage();
    const res = await put(pkg, 'x.bin', bytesOf(10), { ...auth(), 'x-artifact-sha256': 'sha256:XYZ' });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { code: string }).code).toBe('invalid-expectation');
    expect(await listFiles(pkg)).toEqual([]);
  });

  it('refuses to serve a copy of another size than recorded, before any byte (HTTP, gRPC, archive); the right bytes uploaded again replace it', async () => {
    const pkg = await cluster.createPackage();
    const data = bytesOf(300_000, 11);
    await cluster.putFile(pkg, 'cut.bin', data);
    const path = cluster.objectPath(data);
    await chmod(path, 0o644);
    await truncate(path, 100_000);
    for (const range of [undefined, 'bytes=0-9', 'bytes=200000-200009']) {
      const res = await rawRequest(url, 'GET', `/packages/${pkg}/files/cut.bin`, { ...auth(), ...(range === undefined ? {} : { range }) });
      expect([res.status, res.headers['content-type']], range).toEqual([500, 'application/problem+json']);
      expect((JSON.parse(res.body.toString()) as { code: string }).code).toBe('storage-integrity');
    }
    const read = async (): Promise<number> => {
      let got = 0;
      for await (const m of cluster.grpc.readFile({ packageId: pkg, relativePath: 'cut.bin' })) got += m.data.byteLength;
      return got;
    };
    const refused = await rejectionOf(read(), ConnectError);
    expect(refused.code).toBe(Code.DataLoss);
    const archive = await rawRequest(url, 'GET', `/packages/${pkg}/archive`, auth());
    expect(archive.status).toBe(500);
    // Bytes that do not match the content address are refused before they come near the stored copy.
    const wrong = await put(pkg, 'wrong.bin', bytesOf(300_000, 12), { ...auth(), 'x-artifact-sha256': `sha256:${createHash('sha256').update(data).digest('hex')}` });
    expect(wrong.status).toBe(422);
    expect((await stat(path)).size).toBe(100_000);
    // The right bytes uploaded again (verified against both digests) replace the cut copy, which every
    // read of the first file then serves whole; before, they were refused (or, earlier, taken for stored).
    const again = await put(pkg, 'again.bin', data, auth());
    expect(again.status).toBe(201);
    expect(await listFiles(pkg)).toEqual(['again.bin', 'cut.bin']);
    expect((await stat(path)).size).toBe(data.byteLength);
    const whole = await rawRequest(url, 'GET', `/packages/${pkg}/files/cut.bin`, auth());
    expect(whole.status).toBe(200);
    expect(whole.body.equals(data)).toBe(true);
    const range = await rawRequest(url, 'GET', `/packages/${pkg}/files/cut.bin`, { ...auth(), range: 'bytes=200000-200009' });
    expect([range.status, range.body.equals(data.subarray(200_000, 200_010))]).toEqual([206, true]);
    expect(await read()).toBe(data.byteLength);
  });

  it('refuses a single-shot PUT with Content-Range (a fragment is not the file) with 400', async () => {
    const pkg = await cluster.createPackage();
    const before = await cluster.storedFiles();
    const res = await put(pkg, 'fragment.bin', bytesOf(10), { ...auth(), 'content-range': 'bytes 100-109/1000' });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { code: string; detail: string }).detail).toContain('upload session');
    expect(await listFiles(pkg)).toEqual([]);
    expect(await cluster.storedFiles()).toEqual(before);
  });

  it.each([
    ['..', '../x'],
    ['%2e%2e', '%2e%2e/x'],
    ['%2E%2E nested', 'a/%2E%2E/%2e%2e/x'],
    ['dot segment', './x'],
    ['encoded slash', 'a%2Fb'],
    ['encoded backslash', 'a%5Cb'],
    ['raw backslash', 'a\\b'],
    ['encoded NUL', 'a%00b'],
    ['empty segment', 'a//b'],
    ['trailing slash', 'a/'],
    ['malformed escape', 'a%zz'],
  ])('refuses the traversal path %s with 400 and stores nothing', async (_name, path) => {
    const pkg = await cluster.createPackage();
    const before = await cluster.storedFiles();
    const res = await rawRequest(url, 'PUT', `/packages/${pkg}/files/${path}`, { ...auth(), 'content-length': '3' }, Buffer.from('abc'));
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toBe('application/problem+json');
    expect(['invalid-path', 'bad-request']).toContain((JSON.parse(res.body.toString()) as { code: string }).code);
    expect(await listFiles(pkg)).toEqual([]);
    expect(await cluster.storedFiles()).toEqual(before);
  });

  it('refuses uploads to a finalized package', async () => {
    const pkg = await cluster.createPackage();
    expect((await put(pkg, 'a.txt', bytesOf(10))).status).toBe(201);
    await cluster.registry.finalizePackage({ packageId: pkg });
    const before = await cluster.storedFiles();
    const res = await put(pkg, 'b.txt', bytesOf(20, 5));
    expect(res.status).toBe(409);
    expect(((await res.json()) as { code: string }).code).toBe('failed-precondition');
    expect(await listFiles(pkg)).toEqual(['a.txt']);
    expect(await cluster.storedFiles()).toEqual(before);
  });

  it('refuses a missing token (401) and a foreign token (404), storing nothing', async () => {
    const pkg = await cluster.createPackage();
    const before = await cluster.storedFiles();
    const data = bytesOf(2000, 11);
    const anonymous = await put(pkg, 'a.bin', data, {});
    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as { code: string }).code).toBe('unauthenticated');
    const wrong = await put(pkg, 'a.bin', data, auth('not-a-configured-token-at-all'));
    expect(wrong.status).toBe(401);
    await wrong.body?.cancel();
    const foreign = await put(pkg, 'a.bin', data, auth(TOKEN_B));
    expect(foreign.status).toBe(404);
    expect(((await foreign.json()) as { code: string }).code).toBe('not-found');
    expect(await listFiles(pkg)).toEqual([]);
    expect(await cluster.storedFiles()).toEqual(before);
  });

  it('hides files from a foreign or missing token', async () => {
    const pkg = await cluster.createPackage();
    const created = await put(pkg, 'secret.txt', bytesOf(10));
    const { file_id: fileId } = (await created.json()) as { file_id: string };
    for (const headers of [auth(TOKEN_B), {}]) {
      for (const path of [`/files/${fileId}/download`, `/packages/${pkg}/files/secret.txt`]) {
        const res = await fetch(url + path, { headers });
        expect([401, 404]).toContain(res.status);
        expect(res.headers.get('etag')).toBeNull();
        await res.body?.cancel();
      }
    }
  });

  it('authorizes before inviting the body (Expect: 100-continue)', async () => {
    const pkg = await cluster.createPackage();
    const data = bytesOf(3000, 4);
    const attempt = (token: string): Promise<{ status: number; continued: boolean }> =>
      new Promise((resolve, reject) => {
        const target = new URL(url);
        let continued = false;
        const req = httpRequest({ host: target.hostname, port: target.port, method: 'PUT', path: `/packages/${pkg}/files/expect.bin`, agent: false, headers: { ...auth(token), expect: '100-continue', 'content-length': String(data.byteLength) } });
        req.on('continue', () => {
          continued = true;
          req.end(data);
        });
        req.on('response', (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, continued }));
        });
        req.on('error', reject);
        req.flushHeaders();
      });
    expect(await attempt(TOKEN_B)).toEqual({ status: 404, continued: false });
    expect(await attempt('nobody-has-this-token-0123456789')).toEqual({ status: 401, continued: false });
    expect(await attempt(TOKEN_A)).toEqual({ status: 201, continued: true });
    expect(await listFiles(pkg)).toEqual(['expect.bin']);
  });

  it('serves the byte routes over h2c too', async () => {
    const pkg = await cluster.createPackage();
    const data = bytesOf(200_000, 12);
    const session = http2Connect(url);
    const exchange = (headers: Record<string, string>, body?: Uint8Array): Promise<{ headers: H2Headers; body: Buffer }> =>
      new Promise((resolve, reject) => {
        const stream = session.request(headers);
        let responseHeaders: H2Headers = {};
        const chunks: Buffer[] = [];
        stream.on('response', (h) => (responseHeaders = h));
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => resolve({ headers: responseHeaders, body: Buffer.concat(chunks) }));
        stream.on('error', reject);
        stream.end(body);
      });
    try {
      const put = await exchange({ ':method': 'PUT', ':path': `/packages/${pkg}/files/h2.bin`, ...auth(), 'x-artifact-sha256': sha256(data) }, data);
      expect(put.headers[':status']).toBe(201);
      const ranged = await exchange({ ':method': 'GET', ':path': `/packages/${pkg}/files/h2.bin`, ...auth(), range: 'bytes=-1000' });
      expect(ranged.headers[':status']).toBe(206);
      expect(Buffer.compare(ranged.body, data.subarray(199_000))).toBe(0);
      const bad = await exchange({ ':method': 'PUT', ':path': `/packages/${pkg}/files/h2-bad.bin`, ...auth(), 'x-artifact-sha256': sha256(bytesOf(5)) }, data);
      expect(bad.headers[':status']).toBe(422);
      expect(bad.headers['content-type']).toBe('application/problem+json');
      const denied = await exchange({ ':method': 'PUT', ':path': `/packages/${pkg}/files/h2-denied.bin`, ...auth(TOKEN_B) }, data);
      expect(denied.headers[':status']).toBe(404);
      // Several 2 MiB blocks: the body is paused and resumed while blocks are hashed and written.
      const large = bytesOf(9 * 1024 * 1024 + 123, 13);
      const big = await exchange({ ':method': 'PUT', ':path': `/packages/${pkg}/files/h2-large.bin`, ...auth(), 'x-artifact-sha256': sha256(large) }, large);
      expect(big.headers[':status']).toBe(201);
      const back = await exchange({ ':method': 'GET', ':path': `/packages/${pkg}/files/h2-large.bin`, ...auth() });
      expect(Buffer.compare(back.body, large)).toBe(0);
    } finally {
      session.close();
    }
    expect(await listFiles(pkg)).toEqual(['h2-large.bin', 'h2.bin']);
  });

  it('answers an unknown file with 404 problem+json', async () => {
    const res = await fetch(`${url}/files/file_01ARZ3NDEKTSV4RRFFQ69G5FAV/download`, { headers: auth() });
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    await res.body?.cancel();
  });

  it('answers unknown routes with 404 and wrong methods with 405 + Allow', async () => {
    const missing = await rawRequest(url, 'GET', '/nothing-here', auth());
    expect(missing.status).toBe(404);
    const wrong = await rawRequest(url, 'DELETE', '/files/file_x/download', auth());
    expect(wrong.status).toBe(405);
    expect(wrong.headers['allow']).toBe('GET, HEAD');
  });

  it('refuses a body over the upload limit before reading it', async () => {
    const small = await startCluster({ maxUploadBytes: 100 });
    try {
      const pkg = await small.createPackage();
      const res = await fetch(`${small.dataPlane.url}/packages/${pkg}/files/big.bin`, { method: 'PUT', body: bytesOf(101), headers: auth() });
      expect(res.status).toBe(413);
      await res.body?.cancel();
      expect(await small.storedFiles()).toEqual([]);
      // An upload session announced over the limit is refused when it opens, not at the chunk past it.
      const session = await fetch(`${small.dataPlane.url}/uploads`, { method: 'POST', headers: { ...auth(), 'content-type': 'application/json' }, body: JSON.stringify({ package_id: pkg, relative_path: 'big.bin', expected_size: 101 }) });
      expect(session.status).toBe(413);
      expect(((await session.json()) as { code: string }).code).toBe('payload-too-large');
      const { events } = await small.registry.listEvents({ since: 0n, limit: 1000 });
      expect(events.filter((e) => e.type === 'v1.upload.created')).toEqual([]);
    } finally {
      await small.close();
    }
  });
});
