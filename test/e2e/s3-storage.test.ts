/**
 * The real processes on Ceph RGW, chosen by configuration only: a 50-file package pushed, finalized
 * and pulled back through the S3 backend; a routing rule sending one retention class to the local
 * backend; `storage verify` catching an object corrupted directly in RGW, and /healthz naming it;
 * start-up refusing bad storage configuration with a message naming the key or endpoint.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { hash as blake3 } from 'blake3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestBucket, describeS3, listObjects, type TestBucket } from '../support/rgw.ts';
import { runCliProcess, startService, type ServiceUnderTest } from './process-harness.ts';

describeS3('the service on Ceph RGW', () => {
  let bucket: TestBucket;
  let work: string;
  let service: ServiceUnderTest;
  let config: string;
  const files = new Map<string, Buffer>();

  const s3Env = (): NodeJS.ProcessEnv => ({ TEST_RGW_ACCESS: bucket.endpoint.accessKeyId, TEST_RGW_SECRET: bucket.endpoint.secretAccessKey });

  function toml(ceph: Record<string, string | number>, extra = ''): string {
    const lines = Object.entries(ceph).map(([k, v]) => `${k} = ${typeof v === 'number' ? String(v) : JSON.stringify(v)}`);
    return `[storage]\ndefault_backend = "ceph"\n\n[storage.backends.local]\nkind = "local"\n\n[storage.backends.ceph]\nkind = "s3"\n${lines.join('\n')}\n${extra}`;
  }

  const cephTable = (): Record<string, string | number> => ({
    endpoint_url: bucket.endpoint.endpointUrl,
    region: bucket.endpoint.region,
    bucket: bucket.bucket,
    key_prefix: 'store',
    access_key_ref: 'env:TEST_RGW_ACCESS',
    secret_key_ref: 'env:TEST_RGW_SECRET',
    multipart_threshold_bytes: 5 * 1024 * 1024,
    multipart_chunk_bytes: 5 * 1024 * 1024,
  });

  beforeAll(async () => {
    bucket = await createTestBucket('e2e');
    work = await mkdtemp(join(tmpdir(), 'as-s3-e2e-'));
    config = join(work, 'artifactstore.toml');
    await writeFile(config, toml(cephTable(), '\n[[storage.routing]]\nretention_classes = ["transient"]\nbackend = "local"\n'));
    const source = join(work, 'src');
    for (let i = 0; i < 50; i++) {
      const rel = i % 5 === 0 ? `reports/run-${i}/result.xml` : `file-${String(i).padStart(2, '0')}.bin`;
      // One file above the multipart threshold, so the flow also covers multipart staging and the copy.
      const bytes = i === 7 ? Buffer.alloc(0) : i === 11 ? randomBytes(7 * 1024 * 1024 + 3) : randomBytes(1 + ((i * 7919) % 200_000));
      files.set(rel, bytes);
      await mkdir(dirname(join(source, rel)), { recursive: true });
      await writeFile(join(source, rel), bytes);
    }
    service = await startService({ ARTIFACTSTORE_CONFIG: config, ...s3Env() });
  }, 180_000);

  afterAll(async () => {
    await service?.stop();
    if (work !== undefined) await rm(work, { recursive: true, force: true });
    await bucket?.remove();
  });

  const digestsOf = (bytes: Buffer): { blake3: string; sha256: string } => ({ blake3: `blake3:${blake3(bytes).toString('hex')}`, sha256: `sha256:${createHash('sha256').update(bytes).digest('hex')}` });
  const distinct = (): number => new Set([...files.values()].map((b) => digestsOf(b).blake3)).size;
  let packageId = '';

  it('pushes 50 files to the S3 backend by configuration only, and pulls them back byte-exact', async () => {
    const push = await runCliProcess(['push', join(work, 'src'), '--producer', 'ci', '--subject', 'build-s3', '--retention-class', 'raw-evidence', '--json'], service.env);
    expect(push.code, push.stderr).toBe(0);
    const summary = JSON.parse(push.stdout.trim()) as { package_id: string; file_count: number; status: string };
    expect(summary).toMatchObject({ file_count: 50, status: 'finalized' });
    packageId = summary.package_id;

    // Every distinct content is one object under <key_prefix>/blake3/..; nothing went to the local directory.
    const objects = await listObjects(bucket.client, bucket.bucket, 'store/');
    expect(objects.filter((k) => k.startsWith('store/blake3/'))).toHaveLength(distinct());
    expect(objects.filter((k) => !k.startsWith('store/blake3/'))).toEqual([]);
    expect(await localObjects(service.dataDir)).toEqual([]);

    // Downloads over HTTP (Range included) come from RGW through the data plane.
    const auth = { authorization: `Bearer ${service.token}` };
    for (const [rel, bytes] of [...files].slice(0, 12)) {
      const res = await fetch(`${service.dataUrl}/packages/${packageId}/files/${rel}`, { headers: auth });
      expect(res.status).toBe(200);
      const body = Buffer.from(await res.arrayBuffer());
      expect(digestsOf(body)).toEqual(digestsOf(bytes));
    }
    const big = files.get('file-11.bin') ?? Buffer.alloc(0);
    const ranged = await fetch(`${service.dataUrl}/packages/${packageId}/files/file-11.bin`, { headers: { ...auth, range: 'bytes=5242870-5242889' } });
    expect(ranged.status).toBe(206);
    expect(Buffer.from(await ranged.arrayBuffer()).equals(big.subarray(5242870, 5242890))).toBe(true);

    const pulled = join(work, 'pulled');
    const pull = await runCliProcess(['pull', packageId, pulled], service.env);
    expect(pull.code, pull.stderr).toBe(0);
  }, 180_000);

  it('routes a retention class to the local backend by rule, and downloads it back', async () => {
    const source = join(work, 'transient');
    await mkdir(source, { recursive: true });
    const bytes = randomBytes(123_457);
    await writeFile(join(source, 'scratch.bin'), bytes);
    const before = await listObjects(bucket.client, bucket.bucket, 'store/');
    const push = await runCliProcess(['push', source, '--producer', 'ci', '--subject', 'scratch', '--retention-class', 'transient', '--json'], service.env);
    expect(push.code, push.stderr).toBe(0);
    const { package_id: id } = JSON.parse(push.stdout.trim()) as { package_id: string };
    expect(await listObjects(bucket.client, bucket.bucket, 'store/')).toEqual(before);
    const hex = digestsOf(bytes).blake3.slice('blake3:'.length);
    expect(await localObjects(service.dataDir)).toEqual([join('blake3', hex.slice(0, 2), hex.slice(2, 4), hex)]);
    const res = await fetch(`${service.dataUrl}/packages/${id}/files/scratch.bin`, { headers: { authorization: `Bearer ${service.token}` } });
    expect(Buffer.from(await res.arrayBuffer()).equals(bytes)).toBe(true);
    // The data plane's health covers every backend it may be routed writes for.
    const health = (await (await fetch(`${service.dataUrl}/healthz`)).json()) as { status: string; backends: { id: string; ok: boolean }[] };
    expect(health.status).toBe('ok');
    expect(health.backends.map((b) => [b.id, b.ok]).sort()).toEqual([['ceph', true], ['local', true]]);
  }, 120_000);

  it('storage verify reports exactly the object corrupted in RGW, and /healthz shows it', async () => {
    const clean = await runCliProcess(['storage', 'verify', '--json'], service.env);
    expect(clean.code, clean.stderr).toBe(0);
    const first = JSON.parse(clean.stdout.trim()) as { checked: number; verified: number; failed: unknown[] };
    expect(first).toMatchObject({ checked: distinct() + 1, verified: distinct() + 1, failed: [] });

    // Overwrite one object behind the service's back (same length, other bytes).
    const victim = files.get('file-01.bin') ?? Buffer.alloc(0);
    const address = digestsOf(victim).blake3;
    const hex = address.slice('blake3:'.length);
    const key = `store/blake3/${hex.slice(0, 2)}/${hex.slice(2, 4)}/${hex}`;
    await bucket.client.putObject({ Bucket: bucket.bucket, Key: key, Body: randomBytes(victim.byteLength) });

    const run = await runCliProcess(['storage', 'verify', '--backend', 'ceph', '--json'], service.env);
    expect(run.code, run.stderr).toBe(1);
    const report = JSON.parse(run.stdout.trim()) as { checked: number; failed: { content_address: string; backend_id: string; reason: string }[] };
    expect(report.checked).toBe(distinct());
    expect(report.failed).toEqual([expect.objectContaining({ content_address: address, backend_id: 'ceph', reason: 'digest-mismatch' })]);

    type Health = { status: string; storage: { failed_locations: number; failed?: { content_address: string; backend_id: string }[] } };
    const anonymous = (await (await fetch(`${service.controlUrl}/healthz`)).json()) as Health;
    expect(anonymous).toMatchObject({ status: 'degraded', storage: { failed_locations: 1 } });
    expect(anonymous.storage.failed).toBeUndefined();
    const health = (await (await fetch(`${service.controlUrl}/healthz`, { headers: { authorization: `Bearer ${service.token}` } })).json()) as Health;
    expect(health.status).toBe('degraded');
    expect(health.storage.failed_locations).toBe(1);
    expect(health.storage.failed).toEqual([{ content_address: address, backend_id: 'ceph', storage_key: key.slice('store/'.length) }]);
  }, 120_000);

  describe('start-up with bad storage configuration', () => {
    async function dataPlaneWith(text: string, env: NodeJS.ProcessEnv = s3Env()): Promise<{ code: number; stderr: string }> {
      const path = join(work, `bad-${randomBytes(3).toString('hex')}.toml`);
      await writeFile(path, text);
      return runCliProcess(['data-plane', '--listen', '127.0.0.1:0'], { ...process.env, ...env, ARTIFACTSTORE_CONFIG: path, ARTIFACTSTORE_INTERNAL_TOKEN: 'x'.repeat(32), ARTIFACTSTORE_DATA_DIR: work }, 60_000);
    }

    it('names a missing bucket key', async () => {
      const { bucket: _omitted, ...rest } = cephTable();
      const result = await dataPlaneWith(toml(rest));
      expect(result.code).not.toBe(0);
      expect(result.stderr).toContain('storage.backends.ceph.bucket is required');
    });

    it('names a bucket that does not exist', async () => {
      const result = await dataPlaneWith(toml({ ...cephTable(), bucket: 'no-such-bucket-e2e' }));
      expect(result.code).not.toBe(0);
      expect(result.stderr).toContain('storage.backends.ceph.bucket: bucket "no-such-bucket-e2e" does not exist');
    });

    it('names wrong keys without printing them', async () => {
      const result = await dataPlaneWith(toml(cephTable()), { TEST_RGW_ACCESS: bucket.endpoint.accessKeyId, TEST_RGW_SECRET: 'not-the-secret-0123456789' });
      expect(result.code).not.toBe(0);
      expect(result.stderr).toMatch(/storage\.backends\.ceph\.access_key_ref .*credentials were rejected/);
      expect(result.stderr).not.toContain('not-the-secret-0123456789');
    });

    it('names an unreachable endpoint', async () => {
      const result = await dataPlaneWith(toml({ ...cephTable(), endpoint_url: 'http://127.0.0.1:9' }));
      expect(result.code).not.toBe(0);
      expect(result.stderr).toContain('storage.backends.ceph.endpoint_url: cannot reach http://127.0.0.1:9');
    });

    it('names an unset credential variable', async () => {
      const result = await dataPlaneWith(toml(cephTable()), {});
      expect(result.code).not.toBe(0);
      expect(result.stderr).toContain('storage.backends.ceph.access_key_ref: environment variable TEST_RGW_ACCESS is not set');
    });
  });
});

/** Object files under the default local backend's root, relative. */
async function localObjects(dataDir: string): Promise<string[]> {
  const root = join(dataDir, 'objects');
  const entries = await readdir(root, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile() && !e.parentPath.includes('.staging')).map((e) => join(e.parentPath.slice(root.length + 1), e.name)).sort();
}
