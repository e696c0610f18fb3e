/**
 * The curl-only flow (issue 3 acceptance): scripts/curl-flow.sh runs against the real processes
 * started as `artifactstore start`, with nothing but curl and shell tools, and must pass every step;
 * with a wrong token it must stop at the first step that needs one, loudly.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createClient, type Interceptor } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PackageStatus } from '../../gen/artifactstore/v1/package_pb.ts';
import { RegistryService } from '../../gen/artifactstore/v1/registry_service_pb.ts';
import { startService, type ServiceUnderTest } from './process-harness.ts';

const SCRIPT = join(import.meta.dirname, '..', '..', 'scripts', 'curl-flow.sh');

interface ScriptRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the script with bash (not through its executable bit) and the given variables on top of ours. */
function runScript(env: Record<string, string>, args: readonly string[] = []): Promise<ScriptRun> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [SCRIPT, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

describe('scripts/curl-flow.sh against the real service', () => {
  let service: ServiceUnderTest;
  beforeAll(async () => {
    service = await startService();
  }, 120_000);
  afterAll(() => service?.stop());

  it('runs the whole flow with curl only', async () => {
    const run = await runScript({ ARTIFACTSTORE_URL: service.controlUrl, ARTIFACTSTORE_TOKEN: service.token });
    expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);
    const steps = run.stdout.split('\n').filter((l) => l.startsWith('ok ')).map((l) => l.split(' ')[1]);
    expect(steps).toEqual([
      'health',
      'create-package',
      'upload-put',
      'session-create',
      'session-patch',
      'session-head',
      'session-stale-chunk',
      'session-patch',
      'session-patch',
      'session-head',
      'session-complete',
      'finalize',
      'manifest-cbor',
      'manifest-json',
      'download',
      'download',
      'download-range',
      'download-not-modified',
      'download-archive',
    ]);
    expect(run.stdout).toMatch(/^ok session-stale-chunk 416 for bytes 0-262143\/700000, offset still 262144$/m);
    expect(run.stdout).toMatch(/^ok download-range 206 bytes 1000-70999\/1572864, sha256 verified$/m);
    expect(run.stdout).toMatch(/^ok download-not-modified 304 for If-None-Match: "blake3:[0-9a-f]{64}"$/m);

    // What the script says it did is what the registry holds.
    const packageId = /^ok create-package (pkg_\w+)$/m.exec(run.stdout)?.[1];
    expect(packageId).toBeDefined();
    const auth: Interceptor = (next) => (req) => {
      req.header.set('Authorization', `Bearer ${service.token}`);
      return next(req);
    };
    const registry = createClient(RegistryService, createConnectTransport({ baseUrl: service.controlUrl, httpVersion: '1.1', interceptors: [auth] }));
    const { package: pkg } = await registry.getPackage({ packageId: packageId! });
    expect(pkg).toMatchObject({ status: PackageStatus.FINALIZED, fileCount: 2n, totalBytes: 1_572_864n + 700_000n });
    const { files } = await registry.listFiles({ packageId: packageId! });
    expect(files.map((f) => f.relativePath).sort()).toEqual(['logs/run.log', 'reports/summary.bin']);
    expect(run.stdout).toContain(`done: package ${packageId} finalized with 2 files (manifest ${pkg?.manifestDigest})`);
  });

  it('fails loudly at the first step that needs the token when the token is wrong', async () => {
    const run = await runScript({ ARTIFACTSTORE_URL: service.controlUrl, ARTIFACTSTORE_TOKEN: 'not-a-valid-token' });
    expect(run.code).toBe(1);
    expect(run.stdout).toBe(`ok health control plane ${service.controlUrl} answers, a data plane is live\n`);
    expect(run.stderr).toContain('FAIL create-package: expected HTTP 200, got 401');
    expect(run.stderr).toContain('unauthenticated');
  });

  it('fails when the service is not reachable, and refuses to run without a token', async () => {
    const unreachable = await runScript({ ARTIFACTSTORE_URL: 'http://127.0.0.1:1', ARTIFACTSTORE_TOKEN: 'x' });
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toContain('FAIL health: curl could not complete the request');
    const noToken = await runScript({ ARTIFACTSTORE_URL: service.controlUrl, ARTIFACTSTORE_TOKEN: '' });
    expect(noToken.code).toBe(2);
    expect(noToken.stderr).toContain('ARTIFACTSTORE_TOKEN is not set');
  });

  it('prints usage with --help', async () => {
    const run = await runScript({}, ['--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^Usage: scripts\/curl-flow\.sh/);
    expect(run.stdout).toContain('ARTIFACTSTORE_TOKEN');
  });
});
