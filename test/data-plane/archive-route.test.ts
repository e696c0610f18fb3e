// Archive reads (`GET|POST /packages/{id}/archive`) against a real control plane and data plane: a tar
// of exactly the files asked for, byte-exact and in order; every refusal answered before the archive
// starts; a copy that cannot be read once it has started breaks the transfer instead of ending it.
import { spawn } from 'node:child_process';
import { unlink, truncate, chmod } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import tar from 'tar-stream';
import { createClient } from '@connectrpc/connect';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createControlTransport } from '../../data-plane/control/control-client.ts';
import { GROUP_FILES, GROUPED_FILE_BYTES } from '../../data-plane/files/archive-sources.ts';
import { resolvePackageFiles } from '../../data-plane/files/read-package.ts';
import { DAMAGED_BLOCK } from '../../data-plane/http/archive-route.ts';
import type { StorageBackend } from '../../data-plane/storage/backend.ts';
import { ControlService } from '../../gen/artifactstore/internal/v1/control_service_pb.ts';
import { bytesOf, rawRequest, startCluster, TOKEN_A, TOKEN_B, type Cluster } from './cluster.ts';

const auth = (token = TOKEN_A): Record<string, string> => ({ authorization: `Bearer ${token}` });

interface Entry {
  readonly name: string;
  readonly type: string;
  readonly mode: number;
  readonly mtime: Date;
  readonly bytes: Buffer;
}

/** Reads a whole tar archive with tar-stream, as any client would. */
async function entriesOf(archive: Uint8Array): Promise<Entry[]> {
  const extract = tar.extract();
  const out: Entry[] = [];
  const reading = (async () => {
    for await (const entry of extract) {
      const chunks: Buffer[] = [];
      for await (const chunk of entry) chunks.push(chunk);
      out.push({ name: entry.header.name, type: entry.header.type ?? '', mode: entry.header.mode ?? 0, mtime: entry.header.mtime ?? new Date(0), bytes: Buffer.concat(chunks) });
    }
  })();
  extract.end(Buffer.from(archive));
  await reading;
  return out;
}

let cluster: Cluster;
let url: string;
beforeAll(async () => {
  cluster = await startCluster();
  url = cluster.dataPlane.url;
});
afterAll(async () => {
  await cluster.close();
});

const put = (pkg: string, path: string, body: Uint8Array): Promise<void> => cluster.putFile(pkg, path, body);

function select(pkg: string, body: unknown, headers: Record<string, string> = auth()): Promise<Response> {
  return fetch(`${url}/packages/${pkg}/archive`, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } });
}

async function problemOf(res: Response): Promise<{ status: number; code: string; detail: string }> {
  expect(res.headers.get('content-type')).toBe('application/problem+json');
  const body = (await res.json()) as { code: string; detail: string };
  return { status: res.status, code: body.code, detail: body.detail };
}


describe('GET /packages/{id}/archive', () => {
  const files = new Map<string, Uint8Array>([
    ['b.txt', bytesOf(10, 1)],
    ['a/nested/report.json', bytesOf(5000, 2)],
    ['empty.bin', new Uint8Array(0)],
    [`deep/${'long-segment-'.repeat(12)}/ünïcödé.txt`, bytesOf(300, 3)],
    ['big.bin', bytesOf(3 * 1024 * 1024 + 17, 4)],
    ['copy-of-b.txt', bytesOf(10, 1)],
  ]);
  let pkg: string;

  beforeAll(async () => {
    pkg = await cluster.createPackage();
    for (const [path, bytes] of files) await put(pkg, path, bytes);
  });

  it('answers every file in manifest order, byte-exact, mode 0644, mtime = when recorded; tar reads it back', async () => {
    const res = await fetch(`${url}/packages/${pkg}/archive`, { headers: auth() });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/x-tar');
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="${pkg}.tar"`);
    const entries = await entriesOf(new Uint8Array(await res.arrayBuffer()));
    const listed = (await cluster.registry.listFiles({ packageId: pkg })).files;
    expect(entries.map((e) => e.name)).toEqual(listed.map((f) => f.relativePath));
    expect(entries.map((e) => e.name)).toEqual([...files.keys()].sort());
    for (const [i, entry] of entries.entries()) {
      expect(entry.type).toBe('file');
      expect(entry.mode).toBe(0o644);
      expect(entry.bytes.equals(Buffer.from(files.get(entry.name) ?? []))).toBe(true);
      const created = listed[i]?.createdAt;
      expect(entry.mtime.getTime()).toBe(Math.floor(Number(created?.seconds ?? 0n)) * 1000);
    }
  });

  it('is redirected by the control plane (307, same path) for GET and POST', async () => {
    for (const method of ['GET', 'POST']) {
      const res = await rawRequest(cluster.controlPlane.url, method, `/packages/${pkg}/archive`, auth());
      expect(res.status, method).toBe(307);
      expect(res.headers.location).toBe(`${url}/packages/${pkg}/archive`);
    }
    expect((await rawRequest(cluster.controlPlane.url, 'PUT', `/packages/${pkg}/archive`, auth())).status).toBe(405);
    expect((await rawRequest(url, 'DELETE', `/packages/${pkg}/archive`, auth())).status).toBe(405);
  });

  it('answers an empty package with an empty archive', async () => {
    const empty = await cluster.createPackage();
    const res = await fetch(`${url}/packages/${empty}/archive`, { headers: auth() });
    expect(res.status).toBe(200);
    const body = new Uint8Array(await res.arrayBuffer());
    expect(body.byteLength).toBe(1024);
    expect(body.every((b) => b === 0)).toBe(true);
  });

  it('hides the package from a foreign token and refuses a missing one', async () => {
    expect(await problemOf(await fetch(`${url}/packages/${pkg}/archive`, { headers: auth(TOKEN_B) }))).toMatchObject({ status: 404, code: 'not-found' });
    expect(await problemOf(await fetch(`${url}/packages/${pkg}/archive`))).toMatchObject({ status: 401, code: 'unauthenticated' });
    expect(await problemOf(await select(pkg, { relative_paths: ['b.txt'] }, auth(TOKEN_B)))).toMatchObject({ status: 404, code: 'not-found' });
  });
});

describe('POST /packages/{id}/archive', () => {
  let pkg: string;
  const bytes = (i: number): Uint8Array => bytesOf(100 + i, 10 + i);

  beforeAll(async () => {
    pkg = await cluster.createPackage();
    for (let i = 0; i < 5; i++) await put(pkg, `f${i}.bin`, bytes(i));
  });

  it('answers the paths asked for, in that order, normal forms matched', async () => {
    await put(pkg, 'café.txt', bytes(9));
    const res = await select(pkg, { relative_paths: ['f3.bin', 'cafe\u0301.txt', 'f0.bin', 'f4.bin'] });
    expect(res.status).toBe(200);
    const entries = await entriesOf(new Uint8Array(await res.arrayBuffer()));
    expect(entries.map((e) => e.name)).toEqual(['f3.bin', 'café.txt', 'f0.bin', 'f4.bin']);
    expect(entries.map((e) => e.bytes.equals(Buffer.from(bytes(e.name === 'café.txt' ? 9 : Number(e.name[1])))))).toEqual([true, true, true, true]);
  });

  it('refuses bad selections before answering, naming what is wrong', async () => {
    const cases: [unknown, number, string, string][] = [
      [{ relative_paths: ['f0.bin', 'nope.bin'] }, 404, 'not-found', '"nope.bin"'],
      [{ relative_paths: ['f0.bin', 'f0.bin'] }, 400, 'invalid-argument', 'twice'],
      [{ relative_paths: ['../f0.bin'] }, 400, 'invalid-argument', '..'],
      [{ relative_paths: [] }, 400, 'bad-request', 'non-empty'],
      [{ relative_paths: 'f0.bin' }, 400, 'bad-request', 'array'],
      [{ relative_paths: [1] }, 400, 'bad-request', 'strings'],
      [{ relative_paths: ['f0.bin'], extra: true }, 400, 'bad-request', '"extra"'],
      [{ relative_paths: Array.from({ length: 1001 }, (_, i) => `f${i}`) }, 400, 'bad-request', '1000'],
      ['{not json', 400, 'bad-request', 'JSON'],
      [[1, 2], 400, 'bad-request', 'JSON object'],
    ];
    for (const [body, status, code, detail] of cases) {
      const problem = await problemOf(await select(pkg, body));
      expect(problem, JSON.stringify(body).slice(0, 80)).toMatchObject({ status, code });
      expect(problem.detail).toContain(detail);
    }
    const wrongType = await problemOf(await select(pkg, { relative_paths: ['f0.bin'] }, { ...auth(), 'content-type': 'text/plain' }));
    expect(wrongType).toMatchObject({ status: 400, code: 'bad-request' });
  });
});

/** What a client received before the connection ended, and whether the response ended cleanly. */
function receive(path: string, headers: Record<string, string> = auth()): Promise<{ status: number; complete: boolean; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${url}${path}`, { headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      let complete = false;
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => (complete = true));
      res.on('error', () => undefined); // "aborted": the server broke the connection
      res.on('close', () => resolve({ status: res.statusCode ?? 0, complete, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** GNU tar's exit status listing `archive` from its standard input. */
function tarList(archive: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn('tar', ['-tf', '-'], { stdio: ['pipe', 'ignore', 'ignore'] });
    child.once('error', reject);
    child.once('exit', (code) => resolve(code ?? -1));
    child.stdin.end(archive);
  });
}

describe('a stored copy that cannot be read', () => {
  /** Bytes of a tar entry of `size` bytes: its header and its data padded to 512. */
  const entryBytes = (size: number): number => 512 + Math.ceil(size / 512) * 512;

  it('is a clean 500 problem when it is read before the answer starts; after that, the entries so far, a damaged block tar refuses, and a broken connection', async () => {
    const pkg = await cluster.createPackage();
    // The first file is streamed alone (over GROUPED_FILE_BYTES); the two after it are read as a group.
    const first = bytesOf(GROUPED_FILE_BYTES + 1, 91);
    const second = bytesOf(3000, 92);
    await put(pkg, 'a-first.bin', first);
    await put(pkg, 'b-second.bin', second);
    await put(pkg, 'c-third.bin', bytesOf(4000, 93));
    const whole = await receive(`/packages/${pkg}/archive`);
    expect(whole.complete).toBe(true);
    expect(await tarList(whole.body)).toBe(0);
    await unlink(cluster.objectPath(second));
    const broken = await receive(`/packages/${pkg}/archive`);
    expect(broken.status).toBe(200);
    expect(broken.complete).toBe(false);
    // a-first.bin whole, then the damaged block where b-second.bin's header would be.
    const kept = entryBytes(first.byteLength);
    expect(broken.body.byteLength).toBe(kept + 512);
    expect(broken.body.subarray(0, kept).equals(whole.body.subarray(0, kept))).toBe(true);
    expect(broken.body.subarray(kept).equals(DAMAGED_BLOCK)).toBe(true);
    expect(await tarList(broken.body)).not.toBe(0);
    await expect((await fetch(`${url}/packages/${pkg}/archive`, { headers: auth() })).arrayBuffer()).rejects.toThrow();
    // b-second.bin in the first group: read before the answer starts.
    expect(await problemOf(await select(pkg, { relative_paths: ['b-second.bin', 'a-first.bin'] }))).toMatchObject({ status: 500, code: 'storage-not-found' });
    expect(await problemOf(await select(pkg, { relative_paths: ['c-third.bin', 'b-second.bin'] }))).toMatchObject({ status: 500, code: 'storage-not-found' });
    // Still serving: the copies that are there are answered.
    const ok = await select(pkg, { relative_paths: ['a-first.bin', 'c-third.bin'] });
    expect((await entriesOf(new Uint8Array(await ok.arrayBuffer()))).map((e) => e.bytes.byteLength)).toEqual([first.byteLength, 4000]);
  });

  it('sends the groups read before a group that fails (read ahead, failing at its turn), then the damaged block', async () => {
    const pkg = await cluster.createPackage();
    const names = Array.from({ length: GROUP_FILES + 2 }, (_, i) => `f${String(i).padStart(3, '0')}.bin`);
    const bodies = names.map((_, i) => bytesOf(100 + i, 1000 + i));
    for (const [i, name] of names.entries()) await put(pkg, name, bodies[i] as Uint8Array);
    await unlink(cluster.objectPath(bodies[GROUP_FILES + 1] as Uint8Array)); // in the second group
    const broken = await receive(`/packages/${pkg}/archive`);
    expect(broken.status).toBe(200);
    expect(broken.complete).toBe(false);
    // The whole first group, and nothing of the second (its other file waits for the group).
    const kept = bodies.slice(0, GROUP_FILES).reduce((n, b) => n + entryBytes(b.byteLength), 0);
    expect(broken.body.byteLength).toBe(kept + 512);
    expect(broken.body.subarray(kept).equals(DAMAGED_BLOCK)).toBe(true);
    expect(await tarList(broken.body)).not.toBe(0);
  });

  it('refuses a copy shorter than its recorded size: a clean problem in a group read first, a broken transfer once answering', async () => {
    const pkg = await cluster.createPackage();
    const short = bytesOf(5000, 94);
    const large = bytesOf(GROUPED_FILE_BYTES + 10, 96);
    await put(pkg, 'a.bin', bytesOf(10, 95));
    await put(pkg, 'b-short.bin', short);
    await put(pkg, 'c-large.bin', large);
    for (const bytes of [short, large]) {
      const path = cluster.objectPath(bytes);
      await chmod(path, 0o644);
      await truncate(path, 100);
    }
    expect(await problemOf(await select(pkg, { relative_paths: ['a.bin', 'b-short.bin'] }))).toMatchObject({ status: 500, code: 'storage-integrity' });
    const res = await select(pkg, { relative_paths: ['a.bin', 'c-large.bin'] });
    expect(res.status).toBe(200);
    await expect(res.arrayBuffer()).rejects.toThrow();
  });
});

describe('a client that goes away mid-archive', () => {
  it('stops the archive without an unhandled failure, also with a group read ahead, and the data plane goes on serving', async () => {
    let reads = 0;
    let hangUpAt = 0;
    let onRead: (() => void) | undefined;
    // A storage read that takes a moment (a busy disk): the client hangs up meanwhile. Reads after the
    // client left are refused (the request's signal), as a read ahead then is.
    const slowRead = (backend: StorageBackend): StorageBackend => ({
      ...backend,
      async get(key, options) {
        const bytes = await backend.get(key, options);
        if (++reads === hangUpAt) onRead?.();
        await new Promise((resolve) => setImmediate(resolve));
        return bytes;
      },
      async getObjects(objects, options) {
        const bytes = await backend.getObjects(objects, options);
        if (++reads === hangUpAt) onRead?.();
        await new Promise((resolve) => setTimeout(resolve, 20));
        options?.signal?.throwIfAborted();
        return bytes;
      },
    });
    const own = await startCluster({ wrapBackend: slowRead });
    try {
      const pkg = await own.createPackage();
      // Four groups of small files (30 KB each: ~1.9 MB a group, so a client that does not read stops the
      // packer inside a group, with the next one read ahead), then a large one (streamed with get).
      const names: string[] = [];
      for (let i = 0; i < 3 * GROUP_FILES + 3; i++) {
        const name = `f${String(i).padStart(3, '0')}.bin`;
        const res = await fetch(`${own.dataPlane.url}/packages/${pkg}/files/${name}`, { method: 'PUT', body: bytesOf(30_000, 300 + i), headers: auth() });
        expect(res.status).toBe(201);
        names.push(name);
      }
      const res = await fetch(`${own.dataPlane.url}/packages/${pkg}/files/z-large.bin`, { method: 'PUT', body: bytesOf(GROUPED_FILE_BYTES + 1, 299), headers: auth() });
      expect(res.status).toBe(201);
      names.push('z-large.bin');
      // Hang up at the first group's read (before the answer), at the third (mid-archive: the packer
      // waits in the second group, the third read ahead is then refused) and at the fourth.
      for (const at of [1, 3, 4]) {
        reads = 0;
        hangUpAt = at;
        let hungUp = false;
        const gone = new Promise<void>((resolve) => {
          // The answer is never read: the socket fills and the packer waits.
          const req = httpRequest(`${own.dataPlane.url}/packages/${pkg}/archive`, { headers: auth(), agent: false });
          req.on('error', () => undefined);
          req.on('close', () => resolve());
          onRead = () => {
            onRead = undefined;
            hungUp = true;
            req.destroy();
          };
          req.end();
        });
        await gone;
        expect(hungUp).toBe(true); // at that read, not after a complete answer
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      hangUpAt = 0;
      const whole = await fetch(`${own.dataPlane.url}/packages/${pkg}/archive`, { headers: auth() });
      expect((await entriesOf(new Uint8Array(await whole.arrayBuffer()))).map((e) => e.name)).toEqual(names);
    } finally {
      await own.close();
    }
  });
});

describe('resolving a whole package page by page', () => {
  it('yields every file in manifest order across pages, asking for each page once', async () => {
    const pkg = await cluster.createPackage();
    const names = Array.from({ length: 7 }, (_, i) => `p${String(i).padStart(2, '0')}.txt`);
    for (const [i, name] of names.entries()) await put(pkg, name, bytesOf(20 + i, 50 + i));
    const control = createClient(ControlService, createControlTransport({ baseUrl: cluster.controlPlane.url, internalToken: cluster.controlPlane.internalToken }));
    let calls = 0;
    const counted = { ...control, resolvePackageReads: (...args: Parameters<typeof control.resolvePackageReads>) => ((calls += 1), control.resolvePackageReads(...args)) };
    const deps = { control: counted, backend: cluster.backend, hashPool: cluster.hashPool, maxUploadBytes: 1 << 20, log: () => undefined };
    const files = await resolvePackageFiles(deps, { token: TOKEN_A }, pkg, { all: true }, new AbortController().signal, { pageSize: 3 });
    const seen: string[] = [];
    for await (const file of files) seen.push(file.file.relativePath);
    expect(seen).toEqual(names);
    expect(calls).toBe(3);
    await expect(resolvePackageFiles(deps, { token: TOKEN_B }, pkg, { all: true }, new AbortController().signal)).rejects.toMatchObject({ code: 5 });
  });
});
