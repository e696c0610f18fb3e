/**
 * `artifactstore uploads sweep` through the real processes: it runs in the data-plane role (backends
 * from the configuration, the internal token from the data directory), leaves a resumable session and
 * its parts alone, prints a summary (text or JSON), and refuses to run without the internal token or
 * with an unknown subcommand or backend. What it expires, and when, is covered against a cluster with a
 * moved clock (test/data-plane/upload-sweep.test.ts).
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCliProcess, startService, type ServiceUnderTest } from './process-harness.ts';

let service: ServiceUnderTest | undefined;
let uploadId: string;

beforeAll(async () => {
  service = await startService();
  const auth = { authorization: `Bearer ${service.token}` };
  const created = await fetch(`${service.controlUrl}/artifactstore.v1.RegistryService/CreatePackage`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ producer: 'ci', subject: 'sweep', retentionClass: 'transient' }),
  });
  expect(created.status).toBe(200);
  const packageId = ((await created.json()) as { package: { packageId: string } }).package.packageId;
  const opened = await fetch(`${service.dataUrl}/uploads`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ package_id: packageId, relative_path: 'slow.bin' }) });
  expect(opened.status).toBe(201);
  uploadId = ((await opened.json()) as { upload_id: string }).upload_id;
  const chunk = await fetch(`${service.dataUrl}/uploads/${uploadId}`, { method: 'PATCH', headers: { ...auth, 'content-range': 'bytes 0-9/*' }, body: '0123456789' });
  expect(chunk.status).toBe(204);
}, 120_000);

afterAll(async () => {
  await service?.stop();
});

async function parts(): Promise<string[]> {
  return readdir(join(service!.dataDir, 'objects', 'uploads', uploadId.toLowerCase())).catch(() => []);
}

it('leaves a resumable session alone and prints what it did', async () => {
  const json = await runCliProcess(['uploads', 'sweep', '--json'], service!.env);
  expect(json.code, json.stderr).toBe(0);
  expect(JSON.parse(json.stdout)).toEqual({ expired: 0, parts_deleted: 0, skipped: 0, errors: [] });
  const text = await runCliProcess(['uploads', 'sweep', '--backend', 'local'], service!.env);
  expect(text.code, text.stderr).toBe(0);
  expect(text.stdout.trim()).toBe('0 expired, 0 parts deleted, 0 skipped, 0 not expired');
  expect(await parts()).toEqual(['0000000000000000']);
});

it('explains itself and refuses what it cannot do', async () => {
  const help = await runCliProcess(['uploads', '--help'], service!.env);
  expect(help.code).toBe(0);
  expect(help.stdout).toContain('Usage: artifactstore uploads sweep');
  expect(help.stdout).toContain('ARTIFACTSTORE_UPLOAD_SWEEP_INTERVAL');
  const unknown = await runCliProcess(['uploads', 'purge'], service!.env);
  expect(unknown.code).toBe(2);
  expect(unknown.stderr).toContain('unknown subcommand "purge"');
  const backend = await runCliProcess(['uploads', 'sweep', '--backend', 'nowhere'], service!.env);
  expect(backend.code).toBe(2);
  expect(backend.stderr).toContain('--backend nowhere is not configured (have: local)');
  const noToken = await runCliProcess(['uploads', 'sweep'], { ...service!.env, ARTIFACTSTORE_DATA_DIR: join(service!.dataDir, 'nowhere'), ARTIFACTSTORE_INTERNAL_TOKEN: '' });
  expect(noToken.code).toBe(2);
  expect(noToken.stderr).toContain('uploads sweep: set ARTIFACTSTORE_INTERNAL_TOKEN');
  const unreachable = await runCliProcess(['uploads', 'sweep', '--url', 'http://127.0.0.1:1'], service!.env);
  expect(unreachable.code).toBe(1);
  expect(unreachable.stderr).toContain('ECONNREFUSED');
  expect(await parts()).toEqual(['0000000000000000']);
});
