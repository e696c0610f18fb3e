// `pull` against a real control plane and data plane: small files come many to a request (archive
// reads), large ones one each; every file lands byte-exact, and a file whose stored bytes are wrong or
// gone fails the pull without leaving that file (or a `.partial`) behind.
import { createHash } from 'node:crypto';
import { access, chmod, link, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hash as blake3 } from 'blake3';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadArchive, downloadBatch } from '../../cli/client/archive-download.ts';
import type { FileJson } from '../../cli/client/byte-transfer.ts';
import type { CommandIo } from '../../cli/command-io.ts';
import { BATCH_FILE_BYTES, BATCH_MAX_BYTES, BATCH_MAX_FILES, planTransfers } from '../../cli/client/batch-plan.ts';
import { pullPackage } from '../../cli/commands/pull.ts';
import { GROUP_FILES } from '../../data-plane/files/archive-sources.ts';
import { bytesOf, startCluster, TOKEN_A, type Cluster } from '../data-plane/cluster.ts';

let cluster: Cluster;
let scratch: string;
beforeAll(async () => {
  cluster = await startCluster();
  scratch = await mkdtemp(join(tmpdir(), 'pull-test-'));
});
afterAll(async () => {
  await cluster.close();
  await rm(scratch, { recursive: true, force: true });
});

function io(): CommandIo & { lines: string[] } {
  const lines: string[] = [];
  return { lines, out: (l) => lines.push(l), err: () => undefined, progress: () => undefined, env: {} };
}

const put = (pkg: string, path: string, body: Uint8Array): Promise<void> => cluster.putFile(pkg, path, body);

async function listTree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(dir.length + 1)).sort();
}

/** Answered byte-route requests by "route method" (status 200), from the data plane's metrics. */
async function requestCounts(): Promise<Map<string, number>> {
  const text = await (await fetch(`${cluster.dataPlane.url}/metrics`)).text();
  const counts = new Map<string, number>();
  for (const m of text.matchAll(/^artifactstore_http_requests_total\{route="([^"]+)",method="([^"]+)",status="200"\} (\d+)$/gm)) counts.set(`${m[1]} ${m[2]}`, Number(m[3]));
  return counts;
}

const pull = (pkg: string, directory: string, concurrency = 4) => pullPackage(io(), { packageId: pkg, directory, force: false, concurrency, url: cluster.controlPlane.url, token: TOKEN_A });

describe('planTransfers', () => {
  it('sends files over the limit alone and batches the rest by count and bytes, in order', () => {
    const sizes = [BATCH_FILE_BYTES + 1, ...Array.from({ length: BATCH_MAX_FILES + 3 }, () => 10), BATCH_FILE_BYTES, ...Array.from({ length: 20 }, () => BATCH_FILE_BYTES)];
    const plan = planTransfers(sizes.map((size, i) => ({ i, size })), (f) => f.size);
    expect(plan.map((w) => (w.kind === 'single' ? `single ${w.file.i}` : `batch ${w.files.length}`))).toEqual(['single 0', `batch ${BATCH_MAX_FILES}`, 'batch 18', 'batch 6']);
    for (const w of plan) if (w.kind === 'batch') expect(w.files.reduce((n, f) => n + f.size, 0)).toBeLessThanOrEqual(BATCH_MAX_BYTES);
    expect(plan.flatMap((w) => (w.kind === 'single' ? [w.file.i] : w.files.map((f) => f.i)))).toEqual(sizes.map((_, i) => i));
  });
});

describe('pull', () => {
  it('pulls small files in batches and large ones alone, byte-exact, nothing else left in the directory', async () => {
    const pkg = await cluster.createPackage();
    const files = new Map<string, Uint8Array>();
    for (let i = 0; i < 300; i++) files.set(`small/d${i % 7}/f${i}.txt`, bytesOf(1 + ((i * 131) % 3000), i + 1));
    files.set('empty.bin', new Uint8Array(0));
    files.set('ünï/cödé.txt', bytesOf(77, 9001));
    files.set('large/one.bin', bytesOf(BATCH_FILE_BYTES + 1, 9002));
    files.set('large/two.bin', bytesOf(3 * 1024 * 1024, 9003));
    for (const [path, bytes] of files) await put(pkg, path, bytes);
    const target = join(scratch, 'mixed');
    const before = await requestCounts();
    expect(await pull(pkg, target)).toBe(files.size);
    const after = await requestCounts();
    // 302 small files: two archive requests (250 + 52); the two large files: one download each.
    expect((after.get('package-archive POST') ?? 0) - (before.get('package-archive POST') ?? 0)).toBe(2);
    expect((after.get('file-download GET') ?? 0) - (before.get('file-download GET') ?? 0)).toBe(2);
    expect(await listTree(target)).toEqual([...files.keys()].sort());
    for (const [path, bytes] of files) expect((await readFile(join(target, path))).equals(Buffer.from(bytes)), path).toBe(true);
  });

  it('keeps apart files whose names look like its own temporary names (x and x.partial)', async () => {
    // `big.bin` is downloaded alone, streamed into a temporary file, while a batch writes the package's
    // own `big.bin.partial`: with the temporary name `<target>.partial` the two swapped or lost bytes.
    const pkg = await cluster.createPackage();
    const files = new Map<string, Uint8Array>([
      ['big.bin', bytesOf(4 * 1024 * 1024, 7201)],
      ['big.bin.partial', bytesOf(100, 7202)],
      ['big.bin.partial.partial', bytesOf(200, 7203)],
      ['small.txt', bytesOf(300, 7204)],
      ['small.txt.partial', bytesOf(400, 7205)],
    ]);
    for (const [path, bytes] of files) await put(pkg, path, bytes);
    for (let round = 0; round < 3; round++) {
      const target = join(scratch, `lookalike-${round}`);
      expect(await pull(pkg, target)).toBe(files.size);
      expect(await listTree(target)).toEqual([...files.keys()].sort());
      for (const [path, bytes] of files) expect((await readFile(join(target, path))).equals(Buffer.from(bytes)), path).toBe(true);
    }
  });

  it('fails on a stored copy whose bytes changed, leaving no such file and no .partial', async () => {
    const pkg = await cluster.createPackage();
    const good = bytesOf(500, 7001);
    const bad = bytesOf(600, 7002);
    await put(pkg, 'a-good.txt', good);
    await put(pkg, 'b-bad.txt', bad);
    const path = cluster.objectPath(bad);
    await chmod(path, 0o644);
    const changed = Buffer.from(bad);
    changed[10] = (changed[10] ?? 0) ^ 0xff;
    await writeFile(path, changed);
    const target = join(scratch, 'corrupt');
    await expect(pull(pkg, target)).rejects.toMatchObject({ code: 'integrity', message: expect.stringContaining('b-bad.txt') as unknown });
    await expect(access(join(target, 'b-bad.txt'))).rejects.toThrow();
    expect((await listTree(target)).filter((p) => p.endsWith('.partial'))).toEqual([]);
  });

  it('fails when a stored copy is gone (refused before the archive starts), leaving no such file', async () => {
    const pkg = await cluster.createPackage();
    const gone = bytesOf(700, 7102);
    await put(pkg, 'a.txt', bytesOf(700, 7101));
    await put(pkg, 'b-gone.txt', gone);
    await put(pkg, 'c.txt', bytesOf(700, 7103));
    await unlink(cluster.objectPath(gone));
    const target = join(scratch, 'gone');
    await expect(pull(pkg, target)).rejects.toMatchObject({ code: 'storage-not-found' });
    await expect(access(join(target, 'b-gone.txt'))).rejects.toThrow();
    await expect(access(join(target, 'c.txt'))).rejects.toThrow();
  });

  it('fails when a stored copy is gone mid-archive (the archive is broken off), leaving no such file and no .partial', async () => {
    // The data plane reads an archive's small files in groups: the gone copy opens the second group, so
    // the first group's files are sent (and placed) and then the archive breaks.
    const pkg = await cluster.createPackage();
    const names = Array.from({ length: GROUP_FILES + 2 }, (_, i) => `f${String(i).padStart(3, '0')}.txt`);
    const bodies = names.map((_, i) => bytesOf(300, 7400 + i));
    for (const [i, name] of names.entries()) await put(pkg, name, bodies[i] as Uint8Array);
    await unlink(cluster.objectPath(bodies[GROUP_FILES] as Uint8Array));
    const target = join(scratch, 'gone-mid-archive');
    await expect(pull(pkg, target)).rejects.toMatchObject({ code: 'archive-broken', message: expect.stringContaining(`broke off after ${GROUP_FILES} of them`) as unknown });
    const left = await listTree(target);
    expect(left).toEqual(names.slice(0, GROUP_FILES));
    for (const name of left) expect((await readFile(join(target, name))).equals(Buffer.from(bodies[names.indexOf(name)] as Uint8Array))).toBe(true);
  });

  it('reports a file it cannot put in place as it is (here a directory in the way, with --force), leaving no .partial', async () => {
    const pkg = await cluster.createPackage();
    await put(pkg, 'a.txt', bytesOf(100, 7501));
    await put(pkg, 'b.txt', bytesOf(100, 7502));
    const target = join(scratch, 'directory-in-the-way');
    await mkdir(join(target, 'b.txt', 'inside'), { recursive: true });
    await expect(pullPackage(io(), { packageId: pkg, directory: target, force: true, concurrency: 4, url: cluster.controlPlane.url, token: TOKEN_A })).rejects.toMatchObject({ code: 'EISDIR' });
    expect(await listTree(target)).toEqual(['a.txt']);
    expect((await readdir(join(target, 'b.txt'))).sort()).toEqual(['inside']);
  });

  it('refuses to overwrite files that exist (naming the first, counting the rest) and writes nothing; --force overwrites them', async () => {
    const pkg = await cluster.createPackage();
    const files = new Map<string, Uint8Array>([
      ['a/one.txt', bytesOf(100, 7301)],
      ['a/two.txt', bytesOf(200, 7302)],
      ['b/three.txt', bytesOf(300, 7303)],
      ['c/d/four.txt', bytesOf(400, 7304)],
    ]);
    for (const [path, bytes] of files) await put(pkg, path, bytes);
    const target = join(scratch, 'existing');
    // Two of the package's files exist; `c` is a file where the package needs a directory (nothing below it exists).
    await mkdir(join(target, 'a'), { recursive: true });
    await mkdir(join(target, 'b'), { recursive: true });
    await writeFile(join(target, 'a', 'two.txt'), 'mine');
    await writeFile(join(target, 'b', 'three.txt'), 'mine too');
    await writeFile(join(target, 'c'), 'a file');
    await expect(pull(pkg, target)).rejects.toThrow(`${join(target, 'a', 'two.txt')} exists and is not the package's file (other bytes, or not a regular file of its own) (and 1 more of the package's files); nothing was written; pass --force to overwrite`);
    expect(await listTree(target)).toEqual(['a/two.txt', 'b/three.txt', 'c']);
    expect(await readFile(join(target, 'a', 'two.txt'), 'utf8')).toBe('mine');
    await rm(join(target, 'c'));
    expect(await pullPackage(io(), { packageId: pkg, directory: target, force: true, concurrency: 4, url: cluster.controlPlane.url, token: TOKEN_A })).toBe(files.size);
    expect(await listTree(target)).toEqual([...files.keys()].sort());
    for (const [path, bytes] of files) expect((await readFile(join(target, path))).equals(Buffer.from(bytes)), path).toBe(true);
  });

  it("keeps files already there with the package's bytes and fetches the rest (a pull run again after it stopped)", async () => {
    const pkg = await cluster.createPackage();
    const files = new Map<string, Uint8Array>([
      ['kept/small.txt', bytesOf(100, 7401)],
      ['kept/large.bin', bytesOf(3 * 1024 * 1024, 7402)],
      ['fetched/one.txt', bytesOf(200, 7403)],
      ['fetched/same-size.txt', bytesOf(300, 7404)],
    ]);
    for (const [path, bytes] of files) await put(pkg, path, bytes);
    const target = join(scratch, 'resumed');
    await mkdir(join(target, 'kept'), { recursive: true });
    await writeFile(join(target, 'kept', 'small.txt'), files.get('kept/small.txt') as Uint8Array);
    await writeFile(join(target, 'kept', 'large.bin'), files.get('kept/large.bin') as Uint8Array);
    const inodes = [(await stat(join(target, 'kept', 'small.txt'))).ino, (await stat(join(target, 'kept', 'large.bin'))).ino];
    const out = io();
    expect(await pullPackage(out, { packageId: pkg, directory: target, force: false, concurrency: 4, url: cluster.controlPlane.url, token: TOKEN_A })).toBe(2);
    expect(out.lines).toEqual([`2 files written to ${target} (2 already there with the package's bytes, kept), every digest verified`]);
    // Kept as they were (the same files, not rewritten), and the rest fetched.
    expect([(await stat(join(target, 'kept', 'small.txt'))).ino, (await stat(join(target, 'kept', 'large.bin'))).ino]).toEqual(inodes);
    expect(await listTree(target)).toEqual([...files.keys()].sort());
    for (const [path, bytes] of files) expect((await readFile(join(target, path))).equals(Buffer.from(bytes)), path).toBe(true);

    // Same size, other bytes: not in place, so refused without --force.
    const other = Buffer.from(files.get('fetched/same-size.txt') as Uint8Array);
    other[0] = other[0] === 0 ? 1 : 0;
    await writeFile(join(target, 'fetched', 'same-size.txt'), other);
    await expect(pull(pkg, target)).rejects.toThrow(`${join(target, 'fetched', 'same-size.txt')} exists and is not the package's file (other bytes, or not a regular file of its own); nothing was written`);
    // A symbolic link to the right bytes is not taken as the file: it could lead anywhere.
    await rm(join(target, 'fetched', 'same-size.txt'));
    await writeFile(join(scratch, 'outside-copy.txt'), files.get('fetched/same-size.txt') as Uint8Array);
    await symlink(join(scratch, 'outside-copy.txt'), join(target, 'fetched', 'same-size.txt'));
    await expect(pull(pkg, target)).rejects.toThrow(/same-size\.txt exists and is not the package's file/);
    await rm(join(target, 'fetched', 'same-size.txt'));
    // Nor is the right file reached through a symlinked directory, nor one of two hard links.
    const elsewhere = join(scratch, 'elsewhere');
    await mkdir(elsewhere, { recursive: true });
    await writeFile(join(elsewhere, 'one.txt'), files.get('fetched/one.txt') as Uint8Array);
    await writeFile(join(elsewhere, 'same-size.txt'), files.get('fetched/same-size.txt') as Uint8Array);
    await rm(join(target, 'fetched'), { recursive: true });
    await symlink(elsewhere, join(target, 'fetched'));
    await expect(pull(pkg, target)).rejects.toThrow(/fetched\/one\.txt exists and is not the package's file .*\(and 1 more/);
    await rm(join(target, 'fetched'));
    await mkdir(join(target, 'fetched'));
    await link(join(elsewhere, 'one.txt'), join(target, 'fetched', 'one.txt'));
    await expect(pull(pkg, target)).rejects.toThrow(/fetched\/one\.txt exists and is not the package's file/);
    // An unreadable file is not in place either: --force replaces it (as root every file is readable, so it is kept).
    await rm(join(target, 'fetched', 'one.txt'));
    await writeFile(join(target, 'fetched', 'one.txt'), files.get('fetched/one.txt') as Uint8Array, { mode: 0o000 });
    const forced = io();
    expect(await pullPackage(forced, { packageId: pkg, directory: target, force: true, concurrency: 4, url: cluster.controlPlane.url, token: TOKEN_A })).toBe(process.getuid?.() === 0 ? 1 : 2);
    for (const [path, bytes] of files) expect((await readFile(join(target, path))).equals(Buffer.from(bytes)), path).toBe(true);
    // Run again with every file in place: nothing is fetched.
    const again = io();
    expect(await pullPackage(again, { packageId: pkg, directory: target, force: false, concurrency: 4, url: cluster.controlPlane.url, token: TOKEN_A })).toBe(0);
    expect(again.lines).toEqual([`0 files written to ${target} (4 already there with the package's bytes, kept), every digest verified`]);
  });
});

/** A tar archive of `entries`, built with tar-stream. */
async function tarOf(entries: readonly { name: string; body: Uint8Array; type?: 'file' | 'directory'; size?: number }[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const collecting = (async () => {
    for await (const chunk of pack) chunks.push(chunk);
  })();
  for (const e of entries) {
    await new Promise<void>((resolve, reject) => {
      if (e.type === 'directory') pack.entry({ name: e.name, type: 'directory' }, (err) => (err ? reject(err) : resolve()));
      else pack.entry({ name: e.name, size: e.body.byteLength, type: 'file' }, Buffer.from(e.body), (err) => (err ? reject(err) : resolve()));
    });
  }
  pack.finalize();
  await collecting;
  return Buffer.concat(chunks);
}

/** A plain HTTP server on 127.0.0.1 answering with `handler`; the stand-in for a faulty data plane, proxy or older version. */
async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string; close: () => Promise<void> }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

describe('archive downloads check what arrives', () => {
  const a = bytesOf(100, 8001);
  const b = bytesOf(200, 8002);
  const fileOf = (path: string, bytes: Uint8Array): FileJson => ({
    file_id: `file_${path}`,
    package_id: 'pkg_X',
    relative_path: path,
    media_type: 'application/octet-stream',
    digests: { sha256: `sha256:${createHash('sha256').update(bytes).digest('hex')}`, blake3: `blake3:${Buffer.from(blake3(bytes)).toString('hex')}`, size: String(bytes.byteLength) },
  });

  it('refuses entries out of order, of another size, of another kind, missing or extra, writing nothing it did not check', async () => {
    // What arrives, the error it must give, and the files checked (and so written) before it.
    const cases: [string, Buffer, RegExp, string[]][] = [
      ['out of order', await tarOf([{ name: 'b.bin', body: b }, { name: 'a.bin', body: a }]), /entry 1 is "b.bin"/, []],
      ['another size', await tarOf([{ name: 'a.bin', body: bytesOf(101, 8001) }, { name: 'b.bin', body: b }]), /holds 101 bytes, expected 100/, []],
      ['a directory', await tarOf([{ name: 'a.bin', body: new Uint8Array(0), type: 'directory' }]), /\(directory\)/, []],
      ['one missing', await tarOf([{ name: 'a.bin', body: a }]), /ended after 1 of 2 files/, ['a.bin']],
      ['one extra', await tarOf([{ name: 'a.bin', body: a }, { name: 'b.bin', body: b }, { name: 'c.bin', body: a }]), /entry 3 is "c.bin".*expected the end/, ['a.bin', 'b.bin']],
    ];
    for (const [what, archive, message, checked] of cases) {
      const server = await serve((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/x-tar' });
        res.end(archive);
      });
      const target = await mkdtemp(join(scratch, 'faulty-'));
      try {
        const batch = [
          { file: fileOf('a.bin', a), target: join(target, 'a.bin') },
          { file: fileOf('b.bin', b), target: join(target, 'b.bin') },
        ];
        const error = await downloadArchive(server.url, 'pkg_X', batch, { headers: {} }).then(() => undefined, (e: unknown) => e);
        expect(error, what).toMatchObject({ code: 'archive-mismatch' });
        expect((error as Error).message, what).toMatch(message);
        expect(await listTree(target), what).toEqual(checked);
        for (const name of checked) expect((await readFile(join(target, name))).equals(Buffer.from(name === 'a.bin' ? a : b))).toBe(true);
      } finally {
        await server.close();
      }
    }
  });

  it('falls back to one download per file when the data plane has no archive route (404 route-not-found)', async () => {
    const pkg = await cluster.createPackage();
    const files = [bytesOf(300, 8101), bytesOf(400, 8102)];
    for (const [i, bytes] of files.entries()) await put(pkg, `old/f${i}.bin`, bytes);
    const listed = (await cluster.registry.listFiles({ packageId: pkg })).files;
    const archiveRequests: string[] = [];
    // An older data plane: no archive route; every other request goes to the real one.
    const older = await serve((req, res) => {
      if ((req.url ?? '').endsWith('/archive')) {
        archiveRequests.push(req.method ?? '');
        req.resume();
        res.writeHead(404, { 'content-type': 'application/problem+json' });
        res.end(JSON.stringify({ type: 'https://artifact-store.invalid/problems/route-not-found', title: 'No such route', status: 404, detail: 'no route', code: 'route-not-found' }));
        return;
      }
      const upstream = httpRequest(`${cluster.dataPlane.url}${req.url ?? '/'}`, { method: req.method, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      req.pipe(upstream);
    });
    const target = join(scratch, 'older');
    try {
      const done: string[] = [];
      const batch = listed.map((f) => ({
        file: { file_id: f.fileId, package_id: f.packageId, relative_path: f.relativePath, media_type: f.mediaType, digests: { blake3: f.digests?.blake3 ?? '', sha256: f.digests?.sha256 ?? '', size: String(f.digests?.size ?? 0n) } },
        target: join(target, f.relativePath),
      }));
      await downloadBatch(older.url, pkg, batch, { headers: { authorization: `Bearer ${TOKEN_A}` }, onFile: (f) => done.push(f.relative_path) });
      expect(archiveRequests).toEqual(['POST']);
      expect(done).toEqual(['old/f0.bin', 'old/f1.bin']);
      for (const [i, bytes] of files.entries()) expect((await readFile(join(target, `old/f${i}.bin`))).equals(Buffer.from(bytes))).toBe(true);
    } finally {
      await older.close();
    }
  });
});
