/**
 * StorageBackend on an S3-compatible object store (Ceph RADOS Gateway is the target; see
 * docs/adr/0010-s3-backend.md). Objects live at `<key_prefix>/<key>` in one bucket; writes are staged
 * by `s3-writer.ts`. Keys may nest (`a` and `a/b` are independent objects), unlike on a filesystem.
 *
 * Nothing S3-specific leaves this folder: every failure is a StorageError (see `s3-errors.ts`).
 */
import { putObjectsWithWriters } from '../put-objects.ts';
import { getObjectsWithGet } from '../get-objects.ts';
import type { S3 } from '@aws-sdk/client-s3';
import type { GetOptions, SignalOptions, StorageBackend, StorageHealth, StorageObjectInfo, StorageWriter } from '../backend.ts';
import { StorageError, throwIfAborted } from '../errors.ts';
import { isValidKeySegment, validateKey } from '../keys.ts';
import { checkExpectedSize, resolveRange, validateRangeOptions } from '../range.ts';
import { callOptions, createS3Client, type S3Like } from './s3-client.ts';
import { classifyS3Error, isS3NotFound, translateS3Error } from './s3-errors.ts';
import { DEFAULT_MULTIPART_CHUNK_BYTES, DEFAULT_MULTIPART_THRESHOLD_BYTES, MAX_MULTIPART_CHUNK_BYTES } from './s3-limits.ts';
import { createKeyLocks, type S3Target } from './s3-target.ts';
import { createS3Writer } from './s3-writer.ts';

/** Configuration of an S3 backend, with credentials already resolved from their references. */
export interface S3BackendOptions {
  /** Stable name of this backend instance, reported as `StorageBackend.id`. */
  readonly id: string;
  /** e.g. `http://127.0.0.1:7480`. */
  readonly endpointUrl: string;
  readonly region: string;
  readonly bucket: string;
  /** Prefix of every key in the bucket (no leading or trailing slash); `''` for none. */
  readonly keyPrefix: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly storageClass?: string;
  /** `AES256` or `aws:kms`. */
  readonly sse?: string;
  /** Objects larger than this are uploaded in parts (default 16 MiB). */
  readonly multipartThresholdBytes?: number;
  /** Part size (default 8 MiB; S3 needs at least 5 MiB for every part but the last). */
  readonly multipartChunkBytes?: number;
  /** Largest single CopyObject at commit (default 5 GiB, the S3 limit); larger objects are copied in parts. */
  readonly maxCopyBytes?: number;
  /** An SDK client or a fake; default: one built from the options above. */
  readonly client?: S3Like;
}

/** An S3 backend plus the client it uses (for tests and benchmarks that look at the bucket directly). */
export interface S3Backend extends StorageBackend {
  /** The SDK slice this backend calls. */
  readonly client: S3Like;
  /** The object key in the bucket that a storage key maps to. */
  objectKey(key: string): string;
  /** Writers of this backend holding staged bytes: created, and neither committed, cancelled nor cleaned up. */
  stagedCount(): number;
}

// Reads hand out chunks of at most 1 MiB (the contract); sockets deliver far less per chunk anyway.
const MAX_READ_CHUNK_BYTES = 1024 * 1024;

/** Creates a backend storing objects in `options.bucket`. Does no I/O; `health()` checks the bucket. */
export function createS3Backend(options: S3BackendOptions): S3Backend {
  if (options.keyPrefix !== '') validateKey(options.keyPrefix);
  const client: S3Like =
    options.client ??
    (createS3Client({ endpointUrl: options.endpointUrl, region: options.region, accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey }) satisfies S3);
  const target: S3Target = {
    client,
    bucket: options.bucket,
    root: options.keyPrefix === '' ? '' : `${options.keyPrefix}/`,
    where: `${options.endpointUrl} bucket ${options.bucket}`,
    storageClass: options.storageClass,
    sse: options.sse,
    multipartThresholdBytes: options.multipartThresholdBytes ?? DEFAULT_MULTIPART_THRESHOLD_BYTES,
    multipartChunkBytes: options.multipartChunkBytes ?? DEFAULT_MULTIPART_CHUNK_BYTES,
    maxCopyBytes: options.maxCopyBytes ?? MAX_MULTIPART_CHUNK_BYTES,
    locks: createKeyLocks(),
    staged: new Set(),
  };
  const { bucket, root, where } = target;
  const objectKey = (key: string): string => `${root}${validateKey(key)}`;

  async function head(key: string, signal: AbortSignal | undefined): Promise<StorageObjectInfo | undefined> {
    try {
      const answer = await client.headObject({ Bucket: bucket, Key: objectKey(key) }, callOptions(signal));
      return { size: answer.ContentLength ?? 0 };
    } catch (error) {
      if (isS3NotFound(error)) return undefined;
      throw translateS3Error(error, `head ${JSON.stringify(key)}`, where);
    }
  }

  const backend: S3Backend = {
    id: options.id,
    client,
    objectKey,
    stagedCount: () => target.staged.size,

    // eslint-disable-next-line @typescript-eslint/require-await -- async so an aborted signal rejects rather than throws.
    async createWriter(writerOptions?: SignalOptions): Promise<StorageWriter> {
      return createS3Writer(target, writerOptions);
    },

    putObjects: (objects, putOptions) => putObjectsWithWriters(backend, objects, putOptions),
    getObjects: (objects, getOptions) => getObjectsWithGet(backend, objects, getOptions),

    async get(key: string, getOptions: GetOptions = {}): Promise<AsyncIterable<Uint8Array>> {
      const name = objectKey(key);
      validateRangeOptions(getOptions);
      const { signal } = getOptions;
      throwIfAborted(signal);
      const action = `read ${JSON.stringify(key)}`;
      const offset = getOptions.offset ?? 0;
      const { length } = getOptions;
      // An empty range cannot be asked of S3 (`bytes=5-4` is not a range): settle it with a HEAD.
      if (length === 0) return emptyRead(await head(key, signal), key, getOptions);
      const range = offset === 0 && length === undefined ? undefined : `bytes=${offset}-${length === undefined ? '' : offset + length - 1}`;
      try {
        const answer = await client.getObject({ Bucket: bucket, Key: name, ...(range === undefined ? {} : { Range: range }) }, callOptions(signal));
        const body = answer.Body as (AsyncIterable<Uint8Array> & { destroy?: (error?: Error) => void }) | undefined;
        const expected = answer.ContentLength ?? 0;
        if (body === undefined) throw new StorageError('internal', `s3 storage (${where}): ${action}: no body in the answer`);
        // The whole object's size: the answer's length, or the total of its Content-Range.
        const total = range === undefined ? expected : Number(/\/(\d+)$/.exec(answer.ContentRange ?? '')?.[1] ?? Number.NaN);
        try {
          if (getOptions.expectedSize !== undefined && Number.isNaN(total)) throw new StorageError('internal', `s3 storage (${where}): ${action}: no object size in the answer's Content-Range`);
          checkExpectedSize(total, getOptions, JSON.stringify(key));
        } catch (error) {
          body.destroy?.();
          throw error;
        }
        return relay(body, expected, action, where, signal);
      } catch (error) {
        if (error instanceof StorageError) throw error;
        // 416: the offset is at or past the end (S3 cannot express an empty tail); HEAD tells which.
        if (classifyS3Error(error) === 'invalid-range') return emptyRead(await head(key, signal), key, getOptions);
        if (isS3NotFound(error)) throw new StorageError('not-found', `no object stored under ${JSON.stringify(key)}`, { cause: error });
        throw translateS3Error(error, action, where);
      }
    },

    async head(key: string, headOptions: SignalOptions = {}): Promise<StorageObjectInfo | undefined> {
      objectKey(key);
      throwIfAborted(headOptions.signal);
      return head(key, headOptions.signal);
    },

    async delete(key: string, deleteOptions: SignalOptions = {}): Promise<void> {
      const name = objectKey(key);
      throwIfAborted(deleteOptions.signal);
      try {
        await client.deleteObject({ Bucket: bucket, Key: name }, callOptions(deleteOptions.signal));
      } catch (error) {
        if (isS3NotFound(error)) return;
        throw translateS3Error(error, `delete ${JSON.stringify(key)}`, where);
      }
    },

    list(prefix: string, listOptions: SignalOptions = {}): AsyncIterable<string> {
      return listKeys(target, prefix, listOptions.signal);
    },

    // Nothing goes on after an operation answered.
    settle: () => Promise.resolve(),

    async health(healthOptions: SignalOptions = {}): Promise<StorageHealth> {
      throwIfAborted(healthOptions.signal);
      try {
        await client.headBucket({ Bucket: bucket }, callOptions(healthOptions.signal));
        return { ok: true, detail: `s3 storage: bucket ${bucket} at ${options.endpointUrl} is reachable` };
      } catch (error) {
        const failure = translateS3Error(error, 'check the bucket', where);
        if (failure.code === 'aborted') throw failure;
        return { ok: false, detail: failure.message };
      }
    },
  };
  return backend;
}

function emptyRead(info: StorageObjectInfo | undefined, key: string, options: GetOptions): AsyncIterable<Uint8Array> {
  if (info === undefined) throw new StorageError('not-found', `no object stored under ${JSON.stringify(key)}`);
  const { start, end } = resolveRange(info.size, options, JSON.stringify(key));
  if (start !== end) throw new StorageError('internal', `s3 storage: the store refused a satisfiable range of ${JSON.stringify(key)}`);
  return (async function* empty() {})();
}

/** Streams `body` in chunks of at most 1 MiB, failing with `integrity` when it ends short of `expected`. */
async function* relay(
  body: AsyncIterable<Uint8Array> & { destroy?: (error?: Error) => void },
  expected: number,
  action: string,
  where: string,
  signal: AbortSignal | undefined,
): AsyncGenerator<Uint8Array> {
  let received = 0;
  try {
    for await (const chunk of body) {
      throwIfAborted(signal);
      for (let offset = 0; offset < chunk.byteLength; offset += MAX_READ_CHUNK_BYTES) {
        const piece = chunk.subarray(offset, Math.min(chunk.byteLength, offset + MAX_READ_CHUNK_BYTES));
        received += piece.byteLength;
        yield piece;
      }
    }
  } catch (error) {
    throwIfAborted(signal);
    throw translateS3Error(error, action, where);
  } finally {
    // Leaving early (break, throw, abort) must release the socket.
    body.destroy?.();
  }
  if (received < expected) throw new StorageError('integrity', `s3 storage (${where}): ${action}: the object ended after ${received} of ${expected} bytes`);
}

async function* listKeys(target: S3Target, prefix: string, signal: AbortSignal | undefined): AsyncGenerator<string> {
  if (prefix !== '') validateKey(prefix);
  throwIfAborted(signal);
  const { client, bucket, root, where } = target;
  const below = `${root}${prefix === '' ? '' : `${prefix}/`}`;
  let token: string | undefined;
  do {
    let page;
    try {
      page = await client.listObjectsV2({ Bucket: bucket, Prefix: below, ...(token === undefined ? {} : { ContinuationToken: token }) }, callOptions(signal));
    } catch (error) {
      throw translateS3Error(error, `list ${JSON.stringify(prefix)}`, where);
    }
    for (const entry of page.Contents ?? []) {
      const name = entry.Key;
      if (name === undefined || !name.startsWith(root)) continue;
      const key = name.slice(root.length);
      // Staged objects (`.staging/…`) and foreign names are not keys.
      if (key.length > 0 && key.split('/').every(isValidKeySegment)) yield key;
    }
    token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
  } while (token !== undefined);
}
