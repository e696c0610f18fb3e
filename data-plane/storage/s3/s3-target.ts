/**
 * Everything the S3 backend's parts share about one bucket: the client slice, where objects live
 * (`<root><key>`, with `root` = `<key_prefix>/` or empty), how they are written, and the per-key commit
 * locks. Built once by `createS3Backend`.
 *
 * Layout inside the bucket (storage key layout version 1, see `../keys.ts`):
 *
 *   <bucket>/
 *   └── <key_prefix>/            optional; lets several stores share a bucket
 *       ├── .staging/<uuid>      multipart uploads in progress, and completed ones between their
 *       │                        completion and the copy to their content key (never a valid key)
 *       └── <algorithm>/<hex[0:2]>/<hex[2:4]>/<hex>
 */
import type { S3Like } from './s3-client.ts';

/** One bucket as the backend sees it. */
export interface S3Target {
  readonly client: S3Like;
  readonly bucket: string;
  /** `<key_prefix>/` or `''`; prepended to every storage key. */
  readonly root: string;
  /** Endpoint and bucket, for messages (no credentials). */
  readonly where: string;
  /** Storage class of new objects; undefined: the bucket's default. */
  readonly storageClass: string | undefined;
  /** Server-side encryption of new objects (`AES256`, `aws:kms`); undefined: none requested. */
  readonly sse: string | undefined;
  /** Objects larger than this go up as multipart uploads; smaller ones are one PutObject. */
  readonly multipartThresholdBytes: number;
  /** Part size of multipart uploads (also the most a writer buffers per part in flight). */
  readonly multipartChunkBytes: number;
  /** Largest object copied with one CopyObject; larger ones are copied part by part. */
  readonly maxCopyBytes: number;
  /** Serializes commits of one key inside this process (see `createKeyLocks`). */
  readonly locks: KeyLocks;
  /** Writers holding staged bytes (in memory or as a multipart upload), for leftover checks. */
  readonly staged: Set<object>;
}

/** Runs critical sections one at a time per key. */
export interface KeyLocks {
  run<T>(key: string, body: () => Promise<T>): Promise<T>;
}

/**
 * Per-key mutual exclusion inside one process. "Check, then create" is not atomic on S3 for copies
 * (PutObject has `If-None-Match: *`, CopyObject and CompleteMultipartUpload do not on RGW 16), so the
 * contract's "exactly one concurrent committer reports created" is kept by queueing commits of a key.
 */
export function createKeyLocks(): KeyLocks {
  const tails = new Map<string, Promise<unknown>>();
  return {
    async run<T>(key: string, body: () => Promise<T>): Promise<T> {
      const previous = tails.get(key) ?? Promise.resolve();
      const current = previous.then(body, body);
      const settled = current.then(
        () => undefined,
        () => undefined,
      );
      tails.set(key, settled);
      try {
        return await current;
      } finally {
        if (tails.get(key) === settled) tails.delete(key);
      }
    },
  };
}

/** The SSE and storage-class fields of a request creating an object. */
export function objectSettings(target: S3Target): { StorageClass?: never; ServerSideEncryption?: never } {
  const settings: Record<string, string> = {};
  if (target.storageClass !== undefined) settings['StorageClass'] = target.storageClass;
  if (target.sse !== undefined) settings['ServerSideEncryption'] = target.sse;
  // The SDK types these as string-literal unions; the configuration validated the values.
  const typed: { StorageClass?: never; ServerSideEncryption?: never } = settings;
  return typed;
}
