// `pull` against a real control plane and data plane: small files come many to a request (archive
// reads), large ones one each; every file lands byte-exact, and a file whose stored bytes are wrong or
// gone fails the pull without leaving that file (or a `.partial`) behind.
import { access, chmod, mkdtemp, readdir, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CommandIo } from '../../cli/command-io.ts';
import { BATCH_FILE_BYTES, BATCH_MAX_BYTES, BATCH_MAX_FILES, planTransfers } from '../../cli/client/batch-plan.ts';
import { pullPackage } from '../../cli/commands/pull.ts';
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

async function put(pkg: string, path: string, body: Uint8Array): Promise<void> {
  const res = await fetch(`${cluster.dataPlane.url}/packages/${pkg}/files/${path.split('/').map(encodeURIComponent).join('/')}`, { method: 'PUT', body, headers: { authorization: `Bearer ${TOKEN_A}` } });
  expect(res.status, await res.text()).toBe(201);
}

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

  it('fails when a stored copy is gone (the archive is broken off), leaving no such file', async () => {
    const pkg = await cluster.createPackage();
    const gone = bytesOf(700, 7102);
    await put(pkg, 'a.txt', bytesOf(700, 7101));
    await put(pkg, 'b-gone.txt', gone);
    await put(pkg, 'c.txt', bytesOf(700, 7103));
    await unlink(cluster.objectPath(gone));
    const target = join(scratch, 'gone');
    await expect(pull(pkg, target)).rejects.toThrow();
    await expect(access(join(target, 'b-gone.txt'))).rejects.toThrow();
    await expect(access(join(target, 'c.txt'))).rejects.toThrow();
  });
});
