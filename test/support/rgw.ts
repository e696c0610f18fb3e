/**
 * An S3 endpoint for tests: the one named by the environment, or else a throwaway Ceph RGW started by
 * `scripts/ceph-rgw.sh` on first use and shared by every test file of the run (the globalSetup in
 * `rgw-global-setup.ts` stops it afterwards).
 *
 * | variable | meaning |
 * |---|---|
 * | `ARTIFACTSTORE_TEST_S3_ENDPOINT` | use this endpoint instead of starting RGW |
 * | `ARTIFACTSTORE_TEST_S3_ACCESS_KEY`, `ARTIFACTSTORE_TEST_S3_SECRET_KEY` | its credentials |
 * | `ARTIFACTSTORE_TEST_S3_REGION` | its region (default `default`) |
 * | `ARTIFACTSTORE_TEST_S3=required` | a missing endpoint or RGW is a failure, not a skip (.ci/run sets it) |
 *
 * Without an endpoint, the S3 tests run when `radosgw` is installed and are skipped otherwise, unless
 * required: the same rule that ARTIFACTSTORE_TEST_DATABASE_URL applies to PostgreSQL.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import type { S3 } from '@aws-sdk/client-s3';
import { describe, inject } from 'vitest';
import { createS3Client } from '../../data-plane/storage/s3/s3-client.ts';

/** Where tests reach S3. */
export interface S3Endpoint {
  readonly endpointUrl: string;
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

const env = process.env;
const givenEndpoint = env['ARTIFACTSTORE_TEST_S3_ENDPOINT'];

/** True when a missing S3 endpoint must fail the run (CI). */
export const S3_REQUIRED = env['ARTIFACTSTORE_TEST_S3'] === 'required';

/** True when the S3 tests run here: an endpoint is given, RGW is installed, or S3 is required. */
export const S3_TESTS_ENABLED = (givenEndpoint !== undefined && givenEndpoint !== '') || S3_REQUIRED || existsSync('/usr/bin/radosgw');

/** `describe` when S3 tests run here, `describe.skip` otherwise. */
export const describeS3 = describe.skipIf(!S3_TESTS_ENABLED);

const SCRIPT = join(import.meta.dirname, '..', '..', 'scripts', 'ceph-rgw.sh');
const START_TIMEOUT_MS = 120_000;

let endpoint: Promise<S3Endpoint> | undefined;

/** The run's S3 endpoint (starting RGW on first use); rejects when none can be had. */
export function testS3Endpoint(): Promise<S3Endpoint> {
  endpoint ??= givenEndpoint !== undefined && givenEndpoint !== '' ? Promise.resolve(fromEnv(givenEndpoint)) : sharedRgw();
  return endpoint;
}

function fromEnv(url: string): S3Endpoint {
  const accessKeyId = env['ARTIFACTSTORE_TEST_S3_ACCESS_KEY'];
  const secretAccessKey = env['ARTIFACTSTORE_TEST_S3_SECRET_KEY'];
  if (accessKeyId === undefined || secretAccessKey === undefined) throw new Error('ARTIFACTSTORE_TEST_S3_ENDPOINT needs ARTIFACTSTORE_TEST_S3_ACCESS_KEY and ARTIFACTSTORE_TEST_S3_SECRET_KEY');
  return { endpointUrl: url, region: env['ARTIFACTSTORE_TEST_S3_REGION'] ?? 'default', accessKeyId, secretAccessKey };
}

/**
 * The first caller of the run (across worker processes) wins `mkdir lock` and starts the cluster;
 * the others wait for its env file (or its failure note).
 */
async function sharedRgw(): Promise<S3Endpoint> {
  const runDir = inject('rgwRunDir');
  const clusterDir = join(runDir, 'ceph');
  const envFile = join(clusterDir, 'rgw.env');
  const failedFile = join(runDir, 'failed');
  let winner = false;
  try {
    await mkdir(join(runDir, 'lock'));
    winner = true;
  } catch {
    winner = false;
  }
  if (winner) {
    try {
      await promisify(execFile)(SCRIPT, ['start', clusterDir], { timeout: START_TIMEOUT_MS });
    } catch (error) {
      const message = `scripts/ceph-rgw.sh start failed: ${error instanceof Error ? error.message : String(error)}`;
      await writeFile(failedFile, message);
      throw new Error(message);
    }
  }
  const deadline = performance.now() + START_TIMEOUT_MS;
  for (;;) {
    if (existsSync(failedFile)) throw new Error(await readFile(failedFile, 'utf8'));
    if (existsSync(envFile)) break;
    if (performance.now() > deadline) throw new Error('timed out waiting for another test file to start Ceph RGW');
    await sleep(100);
  }
  const values = Object.fromEntries(
    (await readFile(envFile, 'utf8'))
      .split('\n')
      .filter((line) => line.includes('='))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
  return { endpointUrl: values['ENDPOINT'] ?? '', region: values['REGION'] ?? 'default', accessKeyId: values['ACCESS_KEY'] ?? '', secretAccessKey: values['SECRET_KEY'] ?? '' };
}

/** A fresh bucket on the test endpoint, and a way to empty and remove it. */
export interface TestBucket {
  readonly endpoint: S3Endpoint;
  readonly bucket: string;
  /** An SDK client for looking at (and tampering with) the bucket directly. */
  readonly client: S3;
  /** Deletes every object and multipart upload, then the bucket. */
  remove(): Promise<void>;
}

/** Creates a uniquely named bucket. */
export async function createTestBucket(label: string): Promise<TestBucket> {
  const endpoint = await testS3Endpoint();
  const client = createS3Client(endpoint);
  const bucket = `${label}-${randomBytes(4).toString('hex')}`;
  await client.createBucket({ Bucket: bucket });
  return {
    endpoint,
    bucket,
    client,
    async remove() {
      for (const upload of await listUploads(client, bucket, '')) await client.abortMultipartUpload({ Bucket: bucket, Key: upload.key, UploadId: upload.uploadId });
      for (const key of await listObjects(client, bucket, '')) await client.deleteObject({ Bucket: bucket, Key: key });
      await client.deleteBucket({ Bucket: bucket });
    },
  };
}

/** Every object key under `prefix` in the bucket (raw: staging objects included). */
export async function listObjects(client: S3, bucket: string, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.listObjectsV2({ Bucket: bucket, Prefix: prefix, ...(token === undefined ? {} : { ContinuationToken: token }) });
    for (const entry of page.Contents ?? []) if (entry.Key !== undefined) keys.push(entry.Key);
    token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
  } while (token !== undefined);
  return keys;
}

/** Multipart uploads in progress under `prefix`. */
export async function listUploads(client: S3, bucket: string, prefix: string): Promise<{ key: string; uploadId: string }[]> {
  const answer = await client.listMultipartUploads({ Bucket: bucket, Prefix: prefix });
  return (answer.Uploads ?? []).flatMap((u) => (u.Key === undefined || u.UploadId === undefined ? [] : [{ key: u.Key, uploadId: u.UploadId }]));
}
