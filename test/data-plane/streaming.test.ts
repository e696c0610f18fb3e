// Streaming without buffering, shown two ways:
// - in process, through a byte-counting backend wrapper: while a 64 MiB upload is half sent, the
//   backend has already received nearly all of that half; while a download's reader is paused, the
//   backend has been read only a few MiB ahead; a reader that hangs up releases the backend read.
// - a data plane in its own process (started through runDataPlaneFromEnv, as the CLI does): its peak
//   RSS grows by less than half the size of a 512 MiB upload + download. (RSS is noisy: dead socket
//   buffers wait for a GC, which lags under load; a 256 MiB upload grew the process by 36-41 MiB in most
//   runs and by 92-184 MiB in some, so a small file cannot tell streaming from buffering by RSS alone;
//   the counters above can.) Its metrics show the upload's syncs behind (ADR 0017).
// Also checks that the process refuses bad configuration with a clear error.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { createClient, type Interceptor } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { describe, expect, it } from 'vitest';
import { withDataPlaneProcessTuning } from '../../data-plane/process/process-tuning.ts';
import { RegistryService } from '../../gen/artifactstore/v1/registry_service_pb.ts';
import { bytesOf, startCluster, TOKEN_A } from './cluster.ts';
import { countingBackend, type ByteCounters } from './counting-backend.ts';
import { spawnDataPlane, streamUpload, useProcessTestBed } from './data-plane-process.ts';

async function waitFor(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  for (let waited = 0; !condition(); waited += 20) {
    if (waited > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const MiB = 1024 * 1024;

const bed = useProcessTestBed('dp-stream-');

async function peakRss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = /VmHWM:\s+(\d+) kB/.exec(status)?.[1];
  return Number(kb) * 1024;
}


describe('data plane process', () => {
  it('streams a 512 MiB upload and download with bounded memory', async () => {
    // With the settings `artifactstore start` gives a data plane (ADR 0016): glibc then keeps up to
    // 64 MiB of freed heap mapped, and V8 marks only when a limit is reached; neither may show as growth.
    const { dir, controlPlane } = bed();
    const { child, started, stderr } = spawnDataPlane(
      withDataPlaneProcessTuning({ ARTIFACTSTORE_INTERNAL_TOKEN: controlPlane.internalToken, ARTIFACTSTORE_DATA_DIR: join(dir, 'dp'), ARTIFACTSTORE_STORAGE_ROOT: join(dir, 'dp-objects') }),
      ['--control-plane', controlPlane.url, '--listen', '127.0.0.1:0'],
    );
    try {
      const { url } = await started;
      const auth: Interceptor = (next) => (req) => {
        req.header.set('Authorization', `Bearer ${TOKEN_A}`);
        return next(req);
      };
      const registry = createClient(RegistryService, createConnectTransport({ baseUrl: controlPlane.url, httpVersion: '1.1', interceptors: [auth] }));
      const pkg = (await registry.createPackage({ producer: 'ci', subject: 'stream', retentionClass: 'transient' })).package?.packageId ?? '';
      // Warm up (hash workers, buffers) before taking the baseline.
      const warm = await fetch(`${url}/packages/${pkg}/files/warm.bin`, { method: 'PUT', body: bytesOf(4 * MiB), headers: { authorization: `Bearer ${TOKEN_A}` } });
      expect(warm.status).toBe(201);
      await (await fetch(`${url}/packages/${pkg}/files/warm.bin`, { headers: { authorization: `Bearer ${TOKEN_A}` } })).arrayBuffer();
      const baseline = await peakRss(child.pid ?? 0);

      const size = 512 * MiB;
      const sent = createHash('sha256');
      const up = await streamUpload(`${url}/packages/${pkg}/files/big.bin`, size, sent);
      expect(up.status).toBe(201);
      const expected = `sha256:${sent.digest('hex')}`;
      expect((JSON.parse(up.body) as { digests: { sha256: string } }).digests.sha256).toBe(expected);
      // Its staged bytes were synced behind the stream (ADR 0017), which its metrics tell.
      const metrics = await (await fetch(`${url}/metrics`)).text();
      const syncs = metrics.split('\n').find((line) => line.startsWith('artifactstore_storage_sync_behind_seconds_count{backend="local"} '));
      expect(Number(syncs?.split(' ').pop())).toBeGreaterThanOrEqual(1);

      const res = await fetch(`${url}/packages/${pkg}/files/big.bin`, { headers: { authorization: `Bearer ${TOKEN_A}` } });
      expect(res.status).toBe(200);
      expect(res.headers.get('x-artifact-sha256')).toBe(expected);
      const got = createHash('sha256');
      let received = 0;
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        got.update(chunk);
        received += chunk.byteLength;
      }
      expect(received).toBe(size);
      expect(`sha256:${got.digest('hex')}`).toBe(expected);

      const growth = (await peakRss(child.pid ?? 0)) - baseline;
      expect(stderr()).not.toContain('started without');
      // Buffering the file would add ≥ 512 MiB; streaming needs slabs, socket buffers and GC slack.
      expect(growth).toBeLessThan(size / 2);
    } finally {
      child.kill('SIGTERM');
    }
  }, 120_000);

  it('streams 64 MiB through the backend as it arrives and as it is read', async () => {
    let counters: ByteCounters | undefined;
    const cluster = await startCluster({
      wrapBackend: (inner) => {
        const wrapped = countingBackend(inner);
        counters = wrapped.counters;
        return wrapped.backend;
      },
    });
    try {
      const c = counters as ByteCounters;
      const pkg = await cluster.createPackage();
      const url = `${cluster.dataPlane.url}/packages/${pkg}/files/big.bin`;
      const size = 64 * MiB;
      const sent = createHash('sha256');
      const up = await streamUpload(url, size, sent, {
        bytes: 32 * MiB,
        // Half is sent and the client waits: the backend must get (nearly) all of it meanwhile.
        until: () => waitFor(() => c.written >= 28 * MiB, 'the backend to receive the first half'),
      });
      expect(up.status).toBe(201);
      const expected = `sha256:${sent.digest('hex')}`;

      const readBefore = c.read;
      const got = createHash('sha256');
      const target = new URL(url);
      await new Promise<void>((resolve, reject) => {
        const req = httpRequest({ host: target.hostname, port: target.port, path: target.pathname, headers: { authorization: `Bearer ${TOKEN_A}` } }, (res) => {
          expect(res.headers['x-artifact-sha256']).toBe(expected);
          let received = 0;
          let checked = false;
          res.on('data', (chunk: Buffer) => {
            got.update(chunk);
            received += chunk.byteLength;
            if (!checked && received >= MiB) {
              checked = true;
              res.pause();
              // The reader is paused: the server may only read ahead by its socket and stream buffers.
              setTimeout(() => {
                try {
                  expect(c.read - readBefore).toBeLessThan(24 * MiB);
                  res.resume();
                } catch (error) {
                  reject(error instanceof Error ? error : new Error(String(error)));
                }
              }, 300);
            }
          });
          res.on('end', () => {
            expect(received).toBe(size);
            resolve();
          });
          res.on('error', reject);
        });
        req.on('error', reject);
        req.end();
      });
      expect(`sha256:${got.digest('hex')}`).toBe(expected);

      // A reader that hangs up mid-file ends the backend read.
      await new Promise<void>((resolve, reject) => {
        const req = httpRequest({ host: target.hostname, port: target.port, path: target.pathname, headers: { authorization: `Bearer ${TOKEN_A}` } }, (res) => {
          res.once('data', () => {
            req.destroy();
            resolve();
          });
        });
        req.on('error', () => undefined);
        req.end();
        setTimeout(() => reject(new Error('no data')), 10_000);
      });
      await waitFor(() => c.openReads === 0, 'the backend read to be released');
    } finally {
      await cluster.close();
    }
  }, 120_000);

  it('refuses bad configuration naming the variable', async () => {
    const { dir, controlPlane } = bed();
    const bad = spawnDataPlane({ ARTIFACTSTORE_INTERNAL_TOKEN: 'x'.repeat(20), ARTIFACTSTORE_DATA_PLANE_LISTEN: 'nonsense', ARTIFACTSTORE_DATA_DIR: join(dir, 'bad') }, []);
    await expect(bad.started).rejects.toThrow(/ARTIFACTSTORE_DATA_PLANE_LISTEN must be HOST:PORT/);
    const noToken = spawnDataPlane({ ARTIFACTSTORE_DATA_DIR: join(dir, 'missing'), ARTIFACTSTORE_CONTROL_PLANE_URL: controlPlane.url }, ['--listen', '127.0.0.1:0']);
    await expect(noToken.started).rejects.toThrow(/ARTIFACTSTORE_INTERNAL_TOKEN is not set/);
    const wrongToken = spawnDataPlane({ ARTIFACTSTORE_INTERNAL_TOKEN: 'wrong-internal-token-0123456789', ARTIFACTSTORE_DATA_DIR: join(dir, 'wrong') }, ['--control-plane', controlPlane.url, '--listen', '127.0.0.1:0']);
    await expect(wrongToken.started).rejects.toThrow(/unauthenticated|Unauthenticated/i);
  }, 60_000);
});
