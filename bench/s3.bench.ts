/**
 * Bytes through the S3 backend on Ceph RGW (issue 5): `--size` bytes (1 GiB by default) ingested with
 * one HTTP PUT into a data plane whose default backend is RGW, and downloaded back, each beside a
 * direct SDK multipart upload of the same bytes (the baseline: what the store takes without us) and a
 * direct SDK GetObject, in the same run.
 *
 * RGW is a throwaway cluster from `scripts/ceph-rgw.sh` (or `ARTIFACTSTORE_BENCH_S3_ENDPOINT` with
 * `..._ACCESS_KEY` / `..._SECRET_KEY`). When radosgw is not installed and no endpoint is given the
 * suite has no cases and says so on stderr; the other suites run as usual.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { S3 } from '@aws-sdk/client-s3';
import { createS3Client } from '../data-plane/storage/s3/s3-client.ts';
import type { BenchCase, BenchSuite, BenchTarget } from './bench-case.ts';
import { chunksOf, randomChunk } from './byte-source.ts';
import { createBenchPackage, createByteClient, registryClient, type ByteClient } from './service-clients.ts';
import { sharedService, type SharedService } from './service-processes.ts';

const MiB = 1024 * 1024;
const PART_BYTES = 8 * MiB;
const SCRIPT = join(import.meta.dirname, '..', 'scripts', 'ceph-rgw.sh');

interface Rgw {
  readonly endpointUrl: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly client: S3;
  readonly bucket: string;
  stop(): Promise<void>;
}

/** Starts (or names) the RGW once for the suite; stopped when the last case tears down. */
function sharedRgw(): { acquire(): Promise<Rgw>; release(): Promise<void> } {
  let rgw: Promise<Rgw> | undefined;
  let users = 0;
  return {
    acquire() {
      users++;
      rgw ??= startRgw();
      return rgw;
    },
    async release() {
      users--;
      if (users === 0 && rgw !== undefined) {
        const running = await rgw;
        rgw = undefined;
        await running.stop();
      }
    },
  };
}

async function startRgw(): Promise<Rgw> {
  const given = process.env['ARTIFACTSTORE_BENCH_S3_ENDPOINT'];
  let endpointUrl: string;
  let accessKeyId: string;
  let secretAccessKey: string;
  let stop: () => Promise<void> = () => Promise.resolve();
  if (given !== undefined && given !== '') {
    endpointUrl = given;
    accessKeyId = process.env['ARTIFACTSTORE_BENCH_S3_ACCESS_KEY'] ?? '';
    secretAccessKey = process.env['ARTIFACTSTORE_BENCH_S3_SECRET_KEY'] ?? '';
  } else {
    const dir = await mkdtemp(join(tmpdir(), 'artifactstore-bench-rgw-'));
    const started = performance.now();
    await promisify(execFile)(SCRIPT, ['start', join(dir, 'ceph')], { timeout: 120_000, env: { ...process.env, MEMSTORE_BYTES: String(16 * 1024 ** 3) } });
    process.stderr.write(`s3: Ceph RGW started in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
    const values = Object.fromEntries((await readFile(join(dir, 'ceph', 'rgw.env'), 'utf8')).trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    endpointUrl = values['ENDPOINT'] ?? '';
    accessKeyId = values['ACCESS_KEY'] ?? '';
    secretAccessKey = values['SECRET_KEY'] ?? '';
    stop = async () => {
      await promisify(execFile)(SCRIPT, ['stop', join(dir, 'ceph')]);
      await rm(dir, { recursive: true, force: true });
    };
  }
  const client = createS3Client({ endpointUrl, region: 'default', accessKeyId, secretAccessKey });
  const bucket = `bench-${randomBytes(4).toString('hex')}`;
  await client.createBucket({ Bucket: bucket });
  return { endpointUrl, accessKeyId, secretAccessKey, client, bucket, stop };
}

/** Uploads `size` bytes of `chunk` as a multipart upload of 8 MiB parts, 3 in flight (what the backend does). */
async function sdkMultipartPut(client: S3, bucket: string, key: string, chunk: Uint8Array, size: number): Promise<void> {
  const { UploadId } = await client.createMultipartUpload({ Bucket: bucket, Key: key });
  const parts: { PartNumber: number; ETag: string }[] = [];
  const running = new Set<Promise<void>>();
  let part = Buffer.alloc(0);
  let number = 1;
  const send = (body: Buffer): void => {
    const partNumber = number++;
    const p: Promise<void> = client
      .uploadPart({ Bucket: bucket, Key: key, UploadId, PartNumber: partNumber, Body: body, ContentLength: body.byteLength })
      .then((r) => void parts.push({ PartNumber: partNumber, ETag: r.ETag ?? '' }))
      .finally(() => running.delete(p));
    running.add(p);
  };
  for (const piece of chunksOf(chunk, size)) {
    part = Buffer.concat([part, piece]);
    if (part.byteLength >= PART_BYTES) {
      while (running.size >= 3) await Promise.race(running);
      send(part);
      part = Buffer.alloc(0);
    }
  }
  if (part.byteLength > 0) send(part);
  await Promise.all(running);
  parts.sort((a, b) => a.PartNumber - b.PartNumber);
  await client.completeMultipartUpload({ Bucket: bucket, Key: key, UploadId, MultipartUpload: { Parts: parts } });
}

/** Figure: this case's rate over the direct SDK upload's (no bound: the store sets the pace). */
const vsDirectUpload: BenchTarget = {
  label: 'throughput / direct SDK upload',
  unit: 'x',
  figure: ({ bytes, seconds, baselineBytesPerSecond }) => (baselineBytesPerSecond === undefined ? Number.NaN : bytes / seconds / baselineBytesPerSecond),
};

/** The suite; empty (with a note) when no RGW can be had here. */
export const s3Suite: BenchSuite = {
  name: 's3',
  createCases({ size }): readonly BenchCase[] {
    if (!existsSync('/usr/bin/radosgw') && (process.env['ARTIFACTSTORE_BENCH_S3_ENDPOINT'] ?? '') === '') {
      process.stderr.write('s3: SKIPPED — radosgw is not installed and ARTIFACTSTORE_BENCH_S3_ENDPOINT is not set (apt-get install -y --no-install-recommends ceph-mon ceph-osd radosgw)\n');
      return [];
    }
    const chunk = randomChunk();
    const rgw = sharedRgw();
    let config: string | undefined;
    let shared: SharedService | undefined;
    const service = (): SharedService => {
      if (shared === undefined) throw new Error('s3: service not set up');
      return shared;
    };
    let ingestClient: ByteClient | undefined;
    let downloadClient: ByteClient | undefined;
    let packageId = '';
    let storedFileId = '';
    let ran = 0;

    const serviceSetup = async (): Promise<void> => {
      const store = await rgw.acquire();
      if (shared === undefined) {
        const dir = await mkdtemp(join(tmpdir(), 'artifactstore-bench-s3-config-'));
        config = join(dir, 'config.toml');
        await writeFile(
          config,
          `[storage]\ndefault_backend = "ceph"\n[storage.backends.ceph]\nkind = "s3"\nendpoint_url = "${store.endpointUrl}"\nbucket = "${store.bucket}"\naccess_key_ref = "env:BENCH_RGW_ACCESS"\nsecret_key_ref = "env:BENCH_RGW_SECRET"\n`,
        );
        shared = sharedService({ label: 's3', database: 'pglite', env: { ARTIFACTSTORE_CONFIG: config, BENCH_RGW_ACCESS: store.accessKeyId, BENCH_RGW_SECRET: store.secretAccessKey } });
      }
      await shared.acquire();
    };
    const serviceTeardown = async (): Promise<void> => {
      await service().release();
      await rgw.release();
    };

    return [
      {
        name: 's3-sdk-put',
        description: 'direct SDK multipart upload of the same bytes to RGW, 8 MiB parts, 3 in flight (baseline)',
        baseline: true,
        async setup() {
          await rgw.acquire();
        },
        async run() {
          const store = await rgw.acquire();
          await rgw.release();
          await sdkMultipartPut(store.client, store.bucket, 'direct/object', chunk, size);
          return { bytes: size };
        },
        teardown: () => rgw.release(),
      },
      {
        name: 's3-http-ingest',
        description: 'PUT /packages/{id}/files/{path} into a data plane whose default backend is RGW (stage, dual hash, copy to content key)',
        targets: [vsDirectUpload],
        async setup() {
          await serviceSetup();
          const running = await service().acquire();
          await service().release();
          ingestClient = createByteClient(running);
          packageId = await createBenchPackage(registryClient(running), 's3-ingest');
        },
        async run() {
          const stored = await (ingestClient as ByteClient).put(packageId, `ingest-${ran++}.bin`, chunk, size);
          storedFileId = stored.file_id;
          return { bytes: size, check: { sha256: stored.digests.sha256.replace(/^sha256:/, '') } };
        },
        async teardown() {
          ingestClient?.close();
          await serviceTeardown();
        },
      },
      {
        name: 's3-http-download',
        description: 'GET /files/{id}/download of the ingested file, streamed from RGW through the data plane',
        targets: [vsDirectUpload],
        async setup() {
          await serviceSetup();
          const running = await service().acquire();
          await service().release();
          downloadClient = createByteClient(running);
          if (storedFileId === '') {
            const id = await createBenchPackage(registryClient(running), 's3-download');
            storedFileId = (await downloadClient.put(id, 'download.bin', chunk, size)).file_id;
          }
        },
        async run() {
          const bytes = await (downloadClient as ByteClient).download(storedFileId);
          if (bytes !== size) throw new Error(`s3-http-download: got ${bytes} bytes, expected ${size}`);
          return { bytes };
        },
        async teardown() {
          downloadClient?.close();
          await serviceTeardown();
        },
      },
      {
        name: 's3-sdk-get',
        description: 'direct SDK GetObject of the baseline object, body read and discarded',
        async setup() {
          await rgw.acquire();
        },
        async run() {
          const store = await rgw.acquire();
          await rgw.release();
          const answer = await store.client.getObject({ Bucket: store.bucket, Key: 'direct/object' });
          let bytes = 0;
          for await (const piece of answer.Body as AsyncIterable<Uint8Array>) bytes += piece.byteLength;
          return { bytes };
        },
        teardown: () => rgw.release(),
      },
    ] satisfies BenchCase[];
  },
};
