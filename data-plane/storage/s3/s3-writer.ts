/**
 * The S3 backend's staged writer. Bytes are buffered in memory only up to one part:
 *
 * - while the object is no larger than `multipart_threshold_bytes`, it stays in memory and `commit`
 *   stores it with one PutObject straight under its key (`If-None-Match: *`), so nothing is visible
 *   before the commit and nothing is left behind by a cancel;
 * - past the threshold, a multipart upload starts under `<root>.staging/<uuid>`, parts of
 *   `multipart_chunk_bytes` go up while the caller keeps writing (a few in flight, bounded), and
 *   `commit` uploads the last part, completes the upload and copies the staged object to its key
 *   (server-side: no bytes flow back through the data plane), then deletes the staged object.
 *
 * The key is only known at commit (it is the digest of the bytes), hence staging plus copy: a
 * multipart upload is bound to its key when it starts. See docs/adr/0010-s3-backend.md.
 *
 * Failures stick (the contract in `../backend.ts`): the first error is kept, the multipart upload is
 * aborted and any staged object deleted, and every later call rejects with that same error.
 */
import { randomUUID } from 'node:crypto';
import type { CommitOptions, CommitResult, SignalOptions, StorageWriter } from '../backend.ts';
import { abortedError, StorageError, throwIfAborted } from '../errors.ts';
import { validateKey } from '../keys.ts';
import { createOperationQueue, type OperationQueue } from '../operation-queue.ts';
import { s3HttpStatus, s3ErrorName, translateS3Error, isS3NotFound } from './s3-errors.ts';
import { callOptions } from './s3-client.ts';
import { objectSettings, type S3Target } from './s3-target.ts';
import { copyBytes } from '../../../core/bytes/copy-bytes.ts';

// Parts uploading at once per writer: enough to keep a loopback RGW busy, and with the part being
// filled a bound of (N + 1) × multipart_chunk_bytes of memory per writer.
const PARTS_IN_FLIGHT = 3;

// Cleanup after a failure must not inherit the writer's (possibly fired) signal.
const CLEANUP_TIMEOUT_MS = 30_000;

type WriterState = 'open' | 'committed' | 'cancelled' | { readonly failed: StorageError };

interface MultipartUpload {
  readonly key: string;
  readonly uploadId: string;
  readonly parts: { PartNumber: number; ETag: string }[];
  nextPartNumber: number;
  readonly inFlight: Set<Promise<void>>;
  completed: boolean;
}

/** Starts a writer on `target` (see the file comment). */
export function createS3Writer(target: S3Target, options: SignalOptions = {}): StorageWriter {
  throwIfAborted(options.signal);
  return new S3Writer(target, options.signal);
}

class S3Writer implements StorageWriter {
  readonly #target: S3Target;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort: () => void;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #size = 0;
  #state: WriterState = 'open';
  #upload: MultipartUpload | undefined;
  /** Writes, commit and cancel, in call order. */
  readonly #inOrder: OperationQueue = createOperationQueue();
  /** Set by `cancel`: writes still queued give up instead of shipping their bytes. */
  #cancelling = false;
  /** A completed multipart upload waiting to be copied to its key. */
  #stagedObject: string | undefined;
  /** Removal of staged bytes after a failure or cancel; later calls wait for it. */
  #cleanup: Promise<void> | undefined;

  constructor(target: S3Target, signal: AbortSignal | undefined) {
    this.#target = target;
    this.#signal = signal;
    this.#onAbort = () => {
      if (signal !== undefined) this.#fail(abortedError(signal));
    };
    signal?.addEventListener('abort', this.#onAbort, { once: true });
    target.staged.add(this);
  }

  get size(): number {
    return this.#size;
  }

  write(chunk: Uint8Array): Promise<void> {
    // Calls may overlap (ingest hands over its next block before this one settles); each runs after the
    // previous one, so part numbers, the multipart upload and the byte order come out as if awaited.
    return this.#inOrder(() => this.#write(chunk));
  }

  async #write(chunk: Uint8Array): Promise<void> {
    // A cancel is waiting behind this write: do not ship bytes that are about to be thrown away.
    if (this.#cancelling) throw new StorageError('failed-precondition', 'storage writer was cancelled');
    await this.#requireOpen();
    if (chunk.byteLength === 0) return;
    // Copy: the caller may reuse its buffer once this write settles. copyBytes, not Buffer.from: ingest
    // hands over blocks of shared memory, which V8 itself copies word by word.
    const copy = Buffer.allocUnsafe(chunk.byteLength);
    copyBytes(copy, chunk);
    this.#pending.push(copy);
    this.#pendingBytes += chunk.byteLength;
    this.#size += chunk.byteLength;
    const { multipartThresholdBytes, multipartChunkBytes } = this.#target;
    try {
      while ((this.#upload !== undefined || this.#size > multipartThresholdBytes) && this.#pendingBytes >= multipartChunkBytes) {
        await this.#shipPart(this.#take(multipartChunkBytes));
      }
    } catch (error) {
      throw this.#fail(translateS3Error(error, 'write', this.#target.where));
    }
    await this.#requireOpen();
  }

  commit(key: string, options: CommitOptions = {}): Promise<CommitResult> {
    return this.#inOrder(() => this.#commit(key, options));
  }

  async #commit(key: string, options: CommitOptions): Promise<CommitResult> {
    validateKey(key);
    await this.#requireOpen();
    if (options.signal?.aborted === true) throw this.#fail(abortedError(options.signal));
    const signal = combine(this.#signal, options.signal);
    const objectKey = `${this.#target.root}${key}`;
    const action = `commit ${JSON.stringify(key)}`;
    const replaceDamaged = options.replaceDamaged === true;
    try {
      let result: CommitResult;
      if (this.#upload === undefined) {
        const body = this.#take(this.#pendingBytes);
        result = await this.#target.locks.run(objectKey, () => this.#putOnce(objectKey, body, replaceDamaged, signal));
      } else {
        const staged = await this.#completeUpload(this.#upload, signal);
        result = await this.#target.locks.run(objectKey, () => this.#copyOnce(staged, objectKey, replaceDamaged, signal));
        await this.#deleteStaged();
      }
      this.#finish('committed');
      return result;
    } catch (error) {
      const failure = this.#fail(translateS3Error(error, action, this.#target.where));
      await this.#cleanup;
      throw failure;
    }
  }

  cancel(): Promise<void> {
    // Writes queued before the cancel give up (#write); the one running, if any, finishes first, since it
    // could start a multipart upload after the discard below looked for one.
    this.#cancelling = true;
    return this.#inOrder(() => this.#cancel());
  }

  async #cancel(): Promise<void> {
    if (this.#state === 'open') {
      this.#finish('cancelled');
      this.#cleanup = this.#discard().finally(() => this.#target.staged.delete(this));
      try {
        await this.#cleanup;
      } catch (error) {
        throw translateS3Error(error, 'cancel', this.#target.where);
      }
      return;
    }
    // After a failure the cleanup already runs; wait for it so nothing is left once cancel resolves.
    await this.#cleanup?.catch(() => undefined);
  }

  async #putOnce(objectKey: string, body: Buffer, replaceDamaged: boolean, signal: AbortSignal | undefined): Promise<CommitResult> {
    const { client, bucket } = this.#target;
    const stored = await this.#stored(objectKey, replaceDamaged, signal);
    if (stored === 'stored') return { created: false };
    if (stored === 'damaged') {
      // The caller's verified bytes replace the damaged copy: an unconditional put (readers see one or the other).
      await client.putObject({ Bucket: bucket, Key: objectKey, Body: body, ContentLength: body.byteLength, ...objectSettings(this.#target) }, callOptions(signal));
      return { created: false, repaired: true };
    }
    try {
      await client.putObject({ Bucket: bucket, Key: objectKey, Body: body, ContentLength: body.byteLength, IfNoneMatch: '*', ...objectSettings(this.#target) }, callOptions(signal));
      return { created: true };
    } catch (error) {
      // Another process committed the same key in between: same key, same bytes.
      if (s3HttpStatus(error) === 412 || s3ErrorName(error) === 'PreconditionFailed') return { created: false };
      throw error;
    }
  }

  async #copyOnce(staged: string, objectKey: string, replaceDamaged: boolean, signal: AbortSignal | undefined): Promise<CommitResult> {
    const stored = await this.#stored(objectKey, replaceDamaged, signal);
    if (stored === 'stored') return { created: false };
    // Absent, or damaged and to be replaced: a copy is a whole-object replacement either way.
    const { client, bucket } = this.#target;
    if (this.#size <= this.#target.maxCopyBytes) {
      await client.copyObject({ Bucket: bucket, Key: objectKey, CopySource: `${bucket}/${staged}`, MetadataDirective: 'COPY', ...objectSettings(this.#target) }, callOptions(signal));
    } else {
      await copyInParts(this.#target, staged, objectKey, this.#size, signal);
    }
    return stored === 'damaged' ? { created: false, repaired: true } : { created: true };
  }

  /**
   * Whether an object is stored under `objectKey` already. One of another size than this writer's is a
   * damaged copy (the same key means the same bytes), never taken for "already there", so a verified
   * upload is not reported stored while the stored copy is wrong: `damaged` when the caller may replace
   * it, else refused with `integrity`.
   */
  async #stored(objectKey: string, replaceDamaged: boolean, signal: AbortSignal | undefined): Promise<'absent' | 'stored' | 'damaged'> {
    let size: number | undefined;
    try {
      size = (await this.#target.client.headObject({ Bucket: this.#target.bucket, Key: objectKey }, callOptions(signal))).ContentLength;
    } catch (error) {
      if (isS3NotFound(error)) return 'absent';
      throw error;
    }
    if (size !== undefined && size !== this.#size) {
      if (replaceDamaged) return 'damaged';
      throw new StorageError('integrity', `s3 storage: the object already stored under ${JSON.stringify(objectKey)} is ${size} bytes, not ${this.#size}: that copy is damaged (artifactstore storage verify records it)`);
    }
    return 'stored';
  }

  /** Sends the rest as the last part, waits for every part, completes the upload; returns the staged key. */
  async #completeUpload(upload: MultipartUpload, signal: AbortSignal | undefined): Promise<string> {
    if (this.#pendingBytes > 0) await this.#shipPart(this.#take(this.#pendingBytes));
    await Promise.all(upload.inFlight);
    await this.#requireOpen();
    const parts = [...upload.parts].sort((a, b) => a.PartNumber - b.PartNumber);
    // RGW 16 answers CompleteMultipartUpload with an empty ETag; nothing here relies on it.
    await this.#target.client.completeMultipartUpload(
      { Bucket: this.#target.bucket, Key: upload.key, UploadId: upload.uploadId, MultipartUpload: { Parts: parts } },
      callOptions(signal),
    );
    upload.completed = true;
    this.#stagedObject = upload.key;
    return upload.key;
  }

  /** Starts the multipart upload if needed and sends `body` as its next part, keeping a bounded number in flight. */
  async #shipPart(body: Buffer): Promise<void> {
    const { client, bucket, root } = this.#target;
    if (this.#upload === undefined) {
      const key = `${root}.staging/${randomUUID()}`;
      const created = await client.createMultipartUpload({ Bucket: bucket, Key: key, ...objectSettings(this.#target) }, callOptions(this.#signal));
      if (created.UploadId === undefined) throw new StorageError('internal', 's3 storage: CreateMultipartUpload returned no upload id');
      this.#upload = { key, uploadId: created.UploadId, parts: [], nextPartNumber: 1, inFlight: new Set(), completed: false };
      // An abort that fired while the upload was being created must still remove it.
      if (typeof this.#state === 'object') this.#cleanup = this.#discard();
    }
    const upload = this.#upload;
    while (upload.inFlight.size >= PARTS_IN_FLIGHT) await Promise.race(upload.inFlight);
    await this.#requireOpen();
    const partNumber = upload.nextPartNumber++;
    const sending: Promise<void> = client
      .uploadPart({ Bucket: bucket, Key: upload.key, UploadId: upload.uploadId, PartNumber: partNumber, Body: body, ContentLength: body.byteLength }, callOptions(this.#signal))
      .then(
        (answer) => {
          upload.parts.push({ PartNumber: partNumber, ETag: answer.ETag ?? '' });
        },
        (error: unknown) => {
          this.#fail(translateS3Error(error, `upload part ${partNumber}`, this.#target.where));
        },
      )
      .finally(() => upload.inFlight.delete(sending));
    upload.inFlight.add(sending);
  }

  /** Removes the first `bytes` buffered bytes and returns them as one buffer. */
  #take(bytes: number): Buffer {
    const joined = this.#pending.length === 1 ? this.#pending[0]! : Buffer.concat(this.#pending, this.#pendingBytes);
    const taken = joined.subarray(0, bytes);
    const rest = joined.subarray(bytes);
    this.#pending = rest.byteLength === 0 ? [] : [rest];
    this.#pendingBytes = rest.byteLength;
    return taken;
  }

  /** Aborts the multipart upload and deletes a staged object, whatever the writer's signal says. */
  async #discard(): Promise<void> {
    this.#pending = [];
    this.#pendingBytes = 0;
    const upload = this.#upload;
    if (upload !== undefined) {
      await Promise.allSettled(upload.inFlight);
      if (!upload.completed) {
        await this.#target.client.abortMultipartUpload({ Bucket: this.#target.bucket, Key: upload.key, UploadId: upload.uploadId }, callOptions(AbortSignal.timeout(CLEANUP_TIMEOUT_MS))).catch((error: unknown) => {
          // Already gone (completed or aborted): nothing left to remove.
          if (s3ErrorName(error) !== 'NoSuchUpload') throw error;
        });
      }
    }
    await this.#deleteStaged();
  }

  async #deleteStaged(): Promise<void> {
    const staged = this.#stagedObject;
    if (staged === undefined) return;
    await this.#target.client.deleteObject({ Bucket: this.#target.bucket, Key: staged }, callOptions(AbortSignal.timeout(CLEANUP_TIMEOUT_MS)));
    this.#stagedObject = undefined;
  }

  /** Records the first failure, starts removing staged bytes, and returns the error that sticks. */
  #fail(error: StorageError): StorageError {
    if (typeof this.#state === 'object') return this.#state.failed;
    if (this.#state !== 'open') return error;
    this.#finish({ failed: error });
    this.#cleanup = this.#discard()
      .catch(() => undefined)
      .finally(() => this.#target.staged.delete(this));
    return error;
  }

  #finish(state: Exclude<WriterState, 'open'>): void {
    this.#state = state;
    if (state === 'committed') {
      this.#pending = [];
      this.#pendingBytes = 0;
      this.#target.staged.delete(this);
    }
    this.#signal?.removeEventListener('abort', this.#onAbort);
  }

  /** Resolves when the writer is open; otherwise rejects (after any cleanup finished) with the reason. */
  async #requireOpen(): Promise<void> {
    const state = this.#state;
    if (state === 'open') return;
    if (state === 'committed') throw new StorageError('failed-precondition', 'storage writer is already committed');
    if (state === 'cancelled') throw new StorageError('failed-precondition', 'storage writer was cancelled');
    await this.#cleanup;
    throw state.failed;
  }
}

/** Copies `size` bytes from `source` to `objectKey` with UploadPartCopy, for objects too large for one CopyObject. */
async function copyInParts(target: S3Target, source: string, objectKey: string, size: number, signal: AbortSignal | undefined): Promise<void> {
  const { client, bucket } = target;
  const created = await client.createMultipartUpload({ Bucket: bucket, Key: objectKey, ...objectSettings(target) }, callOptions(signal));
  const uploadId = created.UploadId;
  if (uploadId === undefined) throw new StorageError('internal', 's3 storage: CreateMultipartUpload returned no upload id');
  try {
    const parts: { PartNumber: number; ETag: string }[] = [];
    const step = target.maxCopyBytes;
    for (let start = 0, partNumber = 1; start < size; start += step, partNumber++) {
      const end = Math.min(size, start + step) - 1;
      const answer = await client.uploadPartCopy(
        { Bucket: bucket, Key: objectKey, UploadId: uploadId, PartNumber: partNumber, CopySource: `${bucket}/${source}`, CopySourceRange: `bytes=${start}-${end}` },
        callOptions(signal),
      );
      parts.push({ PartNumber: partNumber, ETag: answer.CopyPartResult?.ETag ?? '' });
    }
    await client.completeMultipartUpload({ Bucket: bucket, Key: objectKey, UploadId: uploadId, MultipartUpload: { Parts: parts } }, callOptions(signal));
  } catch (error) {
    await client.abortMultipartUpload({ Bucket: bucket, Key: objectKey, UploadId: uploadId }, callOptions(AbortSignal.timeout(CLEANUP_TIMEOUT_MS))).catch(() => undefined);
    throw error;
  }
}

function combine(a: AbortSignal | undefined, b: AbortSignal | undefined): AbortSignal | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return AbortSignal.any([a, b]);
}
