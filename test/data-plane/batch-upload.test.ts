// Batch upload (`POST /packages/{id}/files`, a tar archive) against a real control plane and data
// plane: every entry stored and recorded in one transaction, or — on any refusal — none recorded.
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hash as blake3 } from 'blake3';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uploadBatch } from '../../cli/client/batch-upload.ts';
import { MAX_BATCH_FILES } from '../../data-plane/files/write-batch.ts';
import { bytesOf, startCluster, TOKEN_A, TOKEN_B, type Cluster } from './cluster.ts';

const sha256 = (b: Uint8Array): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const b3 = (b: Uint8Array): string => `blake3:${Buffer.from(blake3(b)).toString('hex')}`;

interface Entry {
  readonly name: string;
  readonly body?: Uint8Array;
  readonly type?: tar.Headers['type'];
  readonly pax?: Record<string, string>;
  readonly linkname?: string;
}

/** A tar archive of `entries`, built with tar-stream like any client would. */
async function archive(entries: readonly Entry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const chunk of pack) chunks.push(chunk);
  })();
  for (const e of entries) {
    const body = e.body ?? new Uint8Array(0);
    const header = { name: e.name, type: e.type ?? 'file', size: e.type === undefined || e.type === 'file' ? body.byteLength : 0, mode: 0o644, ...(e.pax === undefined ? {} : { pax: e.pax }), ...(e.linkname === undefined ? {} : { linkname: e.linkname }) } as tar.Headers;
    await new Promise<void>((resolve, reject) => pack.entry(header, e.type === undefined || e.type === 'file' ? Buffer.from(body) : undefined, (err) => (err ? reject(err) : resolve())));
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** `tar` without its end-of-archive marker and record padding: the trailing all-zero 512-byte blocks. */
async function withoutTrailer(tarBytes: Buffer): Promise<Buffer> {
  let end = tarBytes.byteLength;
  while (end >= 512 && tarBytes.subarray(end - 512, end).every((b) => b === 0)) end -= 512;
  return Promise.resolve(tarBytes.subarray(0, end));
}

let cluster: Cluster;
beforeAll(async () => {
  cluster = await startCluster();
});
afterAll(async () => {
  await cluster.close();
});

async function post(pkg: string, body: Uint8Array, headers: Record<string, string> = {}, query = ''): Promise<Response> {
  return fetch(`${cluster.dataPlane.url}/packages/${pkg}/files${query}`, { method: 'POST', body, headers: { authorization: `Bearer ${TOKEN_A}`, 'content-type': 'application/x-tar', ...headers } });
}

async function paths(pkg: string): Promise<string[]> {
  return (await cluster.registry.listFiles({ packageId: pkg })).files.map((f) => f.relativePath);
}

async function eventCount(): Promise<bigint> {
  return (await cluster.registry.listEvents({ since: 0n, limit: 1 })).headSequence;
}

describe('POST /packages/{id}/files', () => {
  it('stores every regular file at its path, skips directories, and records them with consecutive events', async () => {
    const pkg = await cluster.createPackage();
    const files = [
      { name: './top.txt', body: bytesOf(10, 1) },
      { name: 'dir/', type: 'directory' as const },
      { name: 'dir/nested/report.json', body: bytesOf(5000, 2), pax: { 'ARTIFACTSTORE.media_type': 'application/json' } },
      { name: 'dir/empty.bin', body: new Uint8Array(0) },
      { name: `dir/${'long-name-'.repeat(20)}ünï.txt`, body: bytesOf(2_000_000, 3) },
      { name: 'dir/same-as-top.txt', body: bytesOf(10, 1), pax: { 'ARTIFACTSTORE.sha256': sha256(bytesOf(10, 1)), 'ARTIFACTSTORE.blake3': b3(bytesOf(10, 1)) } },
      // `.//x` is `./x` (GNU tar writes such names); not an absolute path.
      { name: './/.//twice.txt', body: bytesOf(7, 4) },
    ];
    const before = await eventCount();
    const res = await post(pkg, await archive(files));
    expect(res.status, await res.clone().text()).toBe(201);
    const body = (await res.json()) as { files: { relative_path: string; media_type: string; digests: { blake3: string; sha256: string; size?: string } }[] };
    const stored = files.filter((f) => f.type === undefined);
    expect(body.files.map((f) => f.relative_path)).toEqual(stored.map((f) => f.name.replace(/^(\.\/+)+/, '')));
    body.files.forEach((f, i) => {
      const bytes = stored[i]?.body ?? new Uint8Array(0);
      expect(f.digests).toMatchObject({ blake3: b3(bytes), sha256: sha256(bytes) });
      expect(Number(f.digests.size ?? 0)).toBe(bytes.byteLength);
    });
    expect(body.files[1]?.media_type).toBe('application/json');
    expect(body.files[0]?.media_type).toBe('application/octet-stream');
    expect(await eventCount()).toBe(before + BigInt(stored.length));
    const back = await fetch(`${cluster.dataPlane.url}/packages/${pkg}/files/${encodeURI(stored[3]?.name ?? '')}`, { headers: { authorization: `Bearer ${TOKEN_A}` } });
    expect(Buffer.from(await back.arrayBuffer()).equals(Buffer.from(stored[3]?.body ?? []))).toBe(true);
  });

  const refusals: [string, () => Promise<Buffer | Uint8Array>, number, string, Record<string, string>?][] = [
    ['a symlink entry', () => archive([{ name: 'ok.txt', body: bytesOf(3) }, { name: 'link', type: 'symlink', linkname: '/etc/passwd' }]), 400, 'invalid-archive'],
    ['a hard link entry', () => archive([{ name: 'ok.txt', body: bytesOf(3) }, { name: 'hard', type: 'link', linkname: 'ok.txt' }]), 400, 'invalid-archive'],
    ['a traversal path', () => archive([{ name: 'ok.txt', body: bytesOf(3) }, { name: '../escape.txt', body: bytesOf(3) }]), 400, 'invalid-path'],
    ['an absolute path', () => archive([{ name: '/abs.txt', body: bytesOf(3) }]), 400, 'invalid-path'],
    ['a digest that does not match', () => archive([{ name: 'ok.txt', body: bytesOf(3) }, { name: 'bad.txt', body: bytesOf(4), pax: { 'ARTIFACTSTORE.sha256': sha256(bytesOf(5)) } }]), 422, 'digest-mismatch'],
    ['one path twice', () => archive([{ name: 'twice.txt', body: bytesOf(3) }, { name: 'twice.txt', body: bytesOf(4) }]), 400, 'invalid-argument'],
    ['a truncated archive', async () => (await archive([{ name: 'ok.txt', body: bytesOf(3000) }])).subarray(0, 1500), 400, 'invalid-archive'],
    // Cut on an entry boundary (a producer's tar died there, its pipe ended the request normally): no end-of-archive marker.
    ['an archive cut after a whole entry', async () => withoutTrailer(await archive([{ name: 'a.txt', body: bytesOf(700, 1) }, { name: 'b.txt', body: bytesOf(5000, 2) }])), 400, 'invalid-archive'],
    ['an archive cut after a whole pax entry', async () => withoutTrailer(await archive([{ name: 'a.txt', body: bytesOf(10, 1) }, { name: `long/${'x'.repeat(120)}.txt`, body: bytesOf(513, 2) }])), 400, 'invalid-archive'],
    ['an archive with one zero block only', async () => withoutTrailer(await archive([{ name: 'a.txt', body: bytesOf(10, 1) }])).then((cut) => Buffer.concat([cut, Buffer.alloc(512)])), 400, 'invalid-archive'],
    ['garbage instead of tar', () => Promise.resolve(new Uint8Array(4096).fill(7)), 400, 'invalid-archive'],
    ['an archive with no files', () => archive([{ name: 'only-a-dir/', type: 'directory' }]), 400, 'bad-request'],
    ['a non-tar content type', () => archive([{ name: 'ok.txt', body: bytesOf(3) }]), 400, 'bad-request', { 'content-type': 'application/octet-stream' }],
  ];
  for (const [what, make, status, code, headers] of refusals) {
    it(`refuses ${what} with ${status} ${code} and records nothing`, async () => {
      const pkg = await cluster.createPackage();
      const before = await eventCount();
      const res = await post(pkg, await make(), headers);
      expect(res.status, await res.clone().text()).toBe(status);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      expect(((await res.json()) as { code: string }).code).toBe(code);
      expect(await paths(pkg)).toEqual([]);
      expect(await eventCount()).toBe(before);
    });
  }

  it('refuses another tenant, a missing token and a finalized package before storing a byte', async () => {
    const pkg = await cluster.createPackage();
    const body = await archive([{ name: 'secret.txt', body: bytesOf(123, 9) }]);
    const storedBefore = (await cluster.storedFiles()).filter((f) => !f.startsWith('.staging')).length;
    expect((await post(pkg, body, { authorization: `Bearer ${TOKEN_B}` })).status).toBe(404);
    expect((await fetch(`${cluster.dataPlane.url}/packages/${pkg}/files`, { method: 'POST', body, headers: { 'content-type': 'application/x-tar' } })).status).toBe(401);
    await cluster.registry.finalizePackage({ packageId: pkg });
    expect((await post(pkg, body)).status).toBe(409);
    expect((await cluster.storedFiles()).filter((f) => !f.startsWith('.staging')).length).toBe(storedBefore);
  });

  it(`refuses more than ${MAX_BATCH_FILES} files with too-many-files`, async () => {
    const pkg = await cluster.createPackage();
    const entries = Array.from({ length: MAX_BATCH_FILES + 1 }, (_, i) => ({ name: `f/${i}.txt`, body: bytesOf(1, i + 1) }));
    const res = await post(pkg, await archive(entries));
    expect(res.status).toBe(413);
    expect(((await res.json()) as { code: string }).code).toBe('too-many-files');
    expect(await paths(pkg)).toEqual([]);
  }, 60_000);

  it('needs replace=true to overwrite, like a single upload', async () => {
    const pkg = await cluster.createPackage();
    expect((await post(pkg, await archive([{ name: 'a.txt', body: bytesOf(3, 1) }]))).status).toBe(201);
    const again = await archive([{ name: 'a.txt', body: bytesOf(3, 2) }]);
    expect((await post(pkg, again)).status).toBe(409);
    expect((await post(pkg, again, {}, '?replace=true')).status).toBe(201);
    const [file] = (await cluster.registry.listFiles({ packageId: pkg })).files;
    expect(file?.digests?.sha256).toBe(sha256(bytesOf(3, 2)));
  });
});

describe('the CLI client (uploadBatch)', () => {
  it('sends local files with their SHA-256 and media type and checks what was stored', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'batch-cli-'));
    try {
      await mkdir(join(dir, 'sub'));
      await writeFile(join(dir, 'a.json'), '{"a":1}');
      await writeFile(join(dir, 'sub', 'b.bin'), bytesOf(4096, 5));
      const pkg = await cluster.createPackage();
      const stored = await uploadBatch(cluster.dataPlane.url, pkg, [
        { relativePath: 'a.json', absolutePath: join(dir, 'a.json'), mediaType: 'application/json' },
        { relativePath: 'sub/b.bin', absolutePath: join(dir, 'sub', 'b.bin'), mediaType: 'application/octet-stream' },
      ], { headers: { authorization: `Bearer ${TOKEN_A}` } });
      expect(stored.map((f) => [f.relative_path, f.media_type])).toEqual([['a.json', 'application/json'], ['sub/b.bin', 'application/octet-stream']]);
      await expect(uploadBatch(cluster.dataPlane.url, pkg, [{ relativePath: 'a.json', absolutePath: join(dir, 'a.json'), mediaType: 'application/json' }], { headers: { authorization: `Bearer ${TOKEN_A}` } })).rejects.toMatchObject({ status: 409, code: 'already-exists' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
