// What only the S3 backend can get wrong, on a real Ceph RGW: the key layout in the bucket, multipart
// staging and the copy at commit, a store that goes away mid-upload, and misconfiguration.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Digest } from '../../core/identity/digest.ts';
import type { StorageBackend } from '../../data-plane/storage/backend.ts';
import { contentKey } from '../../data-plane/storage/keys.ts';
import { createS3Backend, type S3Backend } from '../../data-plane/storage/s3/s3-backend.ts';
import { createTestBucket, describeS3, listObjects, listUploads, type TestBucket } from '../support/rgw.ts';
import { startTcpProxy } from '../support/tcp-proxy.ts';
import { collect, expectStorageError } from './helpers.ts';

const MiB = 1024 * 1024;

describeS3('S3 backend specifics on Ceph RGW', () => {
  let bucket: TestBucket;

  beforeAll(async () => {
    bucket = await createTestBucket('specifics');
  });

  afterAll(async () => {
    await bucket?.remove();
  });

  function backend(keyPrefix: string, extra: Partial<Parameters<typeof createS3Backend>[0]> = {}): S3Backend {
    return createS3Backend({ id: 's3-specifics', ...bucket.endpoint, bucket: bucket.bucket, keyPrefix, multipartThresholdBytes: 5 * MiB, multipartChunkBytes: 5 * MiB, ...extra });
  }

  const digest = Digest.fromHex('blake3', 'abcd'.repeat(16));

  it('stores content at <key_prefix>/<algorithm>/<hex[0:2]>/<hex[2:4]>/<hex>', async () => {
    const store = backend('layout/v1');
    await put(store, contentKey(digest), Buffer.from('hello'));
    expect(await listObjects(bucket.client, bucket.bucket, 'layout/')).toEqual([`layout/v1/blake3/ab/cd/${digest.hex}`]);
    await store.delete(contentKey(digest));
  });

  it('stages a large object as a multipart upload under .staging, invisible until commit, gone after', async () => {
    const store = backend('multipart');
    const data = randomBytes(12 * MiB + 5);
    const writer = await store.createWriter();
    try {
      for (let offset = 0; offset < data.byteLength; offset += MiB) await writer.write(data.subarray(offset, offset + MiB));
      const uploads = await listUploads(bucket.client, bucket.bucket, 'multipart/');
      expect(uploads.map((u) => u.key)).toEqual([expect.stringMatching(/^multipart\/\.staging\/[0-9a-f-]{36}$/)]);
      expect(await listObjects(bucket.client, bucket.bucket, 'multipart/')).toEqual([]);
      expect(await writer.commit(contentKey(digest))).toEqual({ created: true });
    } finally {
      await writer.cancel();
    }
    expect(await listObjects(bucket.client, bucket.bucket, 'multipart/')).toEqual([`multipart/blake3/ab/cd/${digest.hex}`]);
    expect(await listUploads(bucket.client, bucket.bucket, 'multipart/')).toEqual([]);
    expect(await store.head(contentKey(digest))).toEqual({ size: data.byteLength });
    expect(Buffer.concat(await collect(await store.get(contentKey(digest)))).equals(data)).toBe(true);
    const tail = Buffer.concat(await collect(await store.get(contentKey(digest), { offset: 12 * MiB - 3, length: 100 })));
    expect(tail.equals(data.subarray(12 * MiB - 3))).toBe(true);
    await store.delete(contentKey(digest));
  });

  it('copies objects larger than one CopyObject part by part at commit', async () => {
    const store = backend('copy-parts', { maxCopyBytes: 5 * MiB });
    const data = randomBytes(11 * MiB);
    await put(store, 'big/object', data);
    expect(Buffer.concat(await collect(await store.get('big/object'))).equals(data)).toBe(true);
    expect(await listObjects(bucket.client, bucket.bucket, 'copy-parts/')).toEqual(['copy-parts/big/object']);
    await store.delete('big/object');
  });

  it('replaces a damaged copy through the multipart path too (staged upload, then a copy over it)', async () => {
    const store = backend('repair-multipart');
    const data = randomBytes(12 * MiB + 5);
    await put(store, contentKey(digest), data.subarray(0, 3 * MiB)); // damaged: cut short
    const writer = await store.createWriter();
    try {
      for (let offset = 0; offset < data.byteLength; offset += MiB) await writer.write(data.subarray(offset, offset + MiB));
      expect(await writer.commit(contentKey(digest), { replaceDamaged: true })).toEqual({ created: false, repaired: true });
    } finally {
      await writer.cancel();
    }
    expect(await store.head(contentKey(digest))).toEqual({ size: data.byteLength });
    expect(Buffer.concat(await collect(await store.get(contentKey(digest)))).equals(data)).toBe(true);
    expect(await listObjects(bucket.client, bucket.bucket, 'repair-multipart/')).toEqual([`repair-multipart/blake3/ab/cd/${digest.hex}`]);
    expect(await listUploads(bucket.client, bucket.bucket, 'repair-multipart/')).toEqual([]);
    await store.delete(contentKey(digest));
  });

  it('fails with unavailable when the store goes away mid-upload, leaving no visible object', async () => {
    const proxy = await startTcpProxy(bucket.endpoint.endpointUrl);
    const store = createS3Backend({ id: 's3-lost', ...bucket.endpoint, endpointUrl: proxy.url, bucket: bucket.bucket, keyPrefix: 'lost', multipartThresholdBytes: 5 * MiB, multipartChunkBytes: 5 * MiB });
    const writer = await store.createWriter();
    const chunk = randomBytes(MiB);
    let failure: Error | undefined;
    try {
      for (let index = 0; index < 40; index++) {
        if (index === 12) await proxy.cut();
        await writer.write(chunk);
      }
      await writer.commit(contentKey(digest));
    } catch (error) {
      failure = error instanceof Error ? error : new Error(String(error));
    } finally {
      await writer.cancel();
    }
    const error = await expectStorageError(Promise.reject(failure ?? new Error('the upload did not fail')), 'unavailable');
    expect(error.message).toMatch(/endpoint unreachable|no answer/);
    expect(error.message).not.toContain(bucket.endpoint.secretAccessKey);
    // The sticky error: the writer refuses everything after.
    expect(await expectStorageError(writer.commit(contentKey(digest)), 'unavailable')).toBe(error);
    // Seen directly: no object under the content key, nothing listed.
    const direct = backend('lost');
    expect(await direct.head(contentKey(digest))).toBeUndefined();
    expect(await collect(direct.list(''))).toEqual([]);
    expect(await listObjects(bucket.client, bucket.bucket, 'lost/')).toEqual([]);
    // The abandoned multipart upload (if its abort could not reach the store) holds no visible object;
    // a bucket lifecycle rule expires it (docs/storage-backends.md). Remove it here.
    for (const upload of await listUploads(bucket.client, bucket.bucket, 'lost/')) await bucket.client.abortMultipartUpload({ Bucket: bucket.bucket, Key: upload.key, UploadId: upload.uploadId });
  });

  describe('misconfiguration shows in health and errors, without secrets', () => {
    it('names a missing bucket', async () => {
      const store = createS3Backend({ id: 'nobucket', ...bucket.endpoint, bucket: 'no-such-bucket-here', keyPrefix: '' });
      const health = await store.health();
      expect(health.ok).toBe(false);
      expect(health.detail).toMatch(/no-such-bucket-here/);
      // GET names the bucket in its error body (a bare HEAD 404 cannot tell bucket from key; start-up checks the bucket).
      const error = await expectStorageError(store.get('a/b'), 'unavailable');
      expect(error.message).toMatch(/bucket does not exist/);
    });

    it('names rejected credentials', async () => {
      const store = createS3Backend({ id: 'badkeys', ...bucket.endpoint, secretAccessKey: 'wrong-secret-value', bucket: bucket.bucket, keyPrefix: '' });
      const health = await store.health();
      expect(health.ok).toBe(false);
      expect(health.detail).toMatch(/access denied/);
      expect(health.detail).not.toContain('wrong-secret-value');
    });

    it('names an unreachable endpoint', async () => {
      const proxy = await startTcpProxy(bucket.endpoint.endpointUrl);
      await proxy.cut();
      const store = createS3Backend({ id: 'unreachable', ...bucket.endpoint, endpointUrl: proxy.url, bucket: bucket.bucket, keyPrefix: '' });
      const health = await store.health();
      expect(health.ok).toBe(false);
      expect(health.detail).toContain(proxy.url);
      expect(health.detail).toMatch(/unreachable|no answer/);
    });
  });
});

async function put(store: StorageBackend, key: string, data: Uint8Array): Promise<void> {
  const writer = await store.createWriter();
  try {
    for (let offset = 0; offset < data.byteLength; offset += MiB) await writer.write(data.subarray(offset, offset + MiB));
    await writer.commit(key);
  } finally {
    await writer.cancel();
  }
}
