// The S3 backend runs the shared StorageBackend contract against a real Ceph RGW (see
// test/support/rgw.ts), with small part sizes so multi-MiB tests go through multipart staging.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll } from 'vitest';
import { createS3Backend } from '../../data-plane/storage/s3/s3-backend.ts';
import { createTestBucket, describeS3, listObjects, listUploads, type TestBucket } from '../support/rgw.ts';
import { describeStorageBackend } from './backend.contract.ts';

const MiB = 1024 * 1024;

describeS3('S3 backend on Ceph RGW', () => {
  let bucket: TestBucket;

  beforeAll(async () => {
    bucket = await createTestBucket('contract');
  });

  afterAll(async () => {
    await bucket?.remove();
  });

  describeStorageBackend(
    's3',
    () => {
      // A fresh prefix per test: an empty backend without a bucket per test.
      const keyPrefix = `t-${randomBytes(6).toString('hex')}`;
      const backend = createS3Backend({
        id: 's3-test',
        ...bucket.endpoint,
        bucket: bucket.bucket,
        keyPrefix,
        multipartThresholdBytes: 5 * MiB,
        multipartChunkBytes: 5 * MiB,
      });
      return Promise.resolve({
        backend,
        leftovers: async () => [
          ...(await listObjects(bucket.client, bucket.bucket, `${keyPrefix}/`)),
          ...(await listUploads(bucket.client, bucket.bucket, `${keyPrefix}/`)).map((u) => `upload ${u.key}`),
          // Small staged writes live in the writer's memory until commit: count those too.
          ...Array.from({ length: backend.stagedCount() }, (_, index) => `staged in memory #${index}`),
        ],
        cleanup: () => Promise.resolve(),
      });
    },
    { reportsCapacity: false, nestedKeys: 'allowed' },
  );
});
