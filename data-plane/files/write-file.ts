/**
 * Writing one file, independent of transport: ask the control plane whether the caller may write the
 * path (before any byte is read), stream the bytes through `ingestObject` (stage → dual hash → verify →
 * commit under the BLAKE3 key), then record the file. A failure before the commit leaves nothing stored.
 *
 * A failure of RecordFile after the commit (say the package was finalized meanwhile) leaves a verified,
 * content-addressed object that no file references. It is not deleted here: a concurrent upload of the
 * same bytes may have committed onto it and recorded it. Unreferenced objects are the garbage
 * collector's to remove.
 */
import { DataPlaneError } from '../errors/data-plane-error.ts';
import type { File } from '../../gen/artifactstore/v1/package_pb.ts';
import { ingestObject, type ChunkSource, type IngestExpectations } from '../ingest/ingest-object.ts';
import { backendById, withBackend } from './backend-choice.ts';
import type { Caller, DataPlaneDeps } from './data-plane-deps.ts';

/** What a client asks to write. */
export interface WriteFileRequest {
  readonly packageId: string;
  readonly relativePath: string;
  /** Media type; empty means `application/octet-stream`. */
  readonly mediaType: string;
  readonly replace: boolean;
  /** Size and digests the client claims; each is checked. */
  readonly expected: IngestExpectations;
}

/** A write the control plane allowed: the path in its normal form. */
export interface AuthorizedWrite extends WriteFileRequest {
  readonly caller: Caller;
  /** Backend the control plane routed the file to (absent or `''`: this data plane's default). */
  readonly backendId?: string;
}

/** Throws `payload-too-large` when a file announced to be `size` bytes could never be stored here. */
export function requireWithinLimit(deps: DataPlaneDeps, size: number | undefined): void {
  if (size !== undefined && size > deps.maxUploadBytes) throw new DataPlaneError('payload-too-large', `the file is announced at ${size} bytes; uploads are limited to ${deps.maxUploadBytes} bytes`);
}

/** Default media type of files stored without one. */
export const DEFAULT_MEDIA_TYPE = 'application/octet-stream';

/**
 * Asks the control plane whether `caller` may write `request` (rejecting with its ConnectError when
 * not) and checks that the chosen backend is ours.
 */
export async function authorizeWrite(deps: DataPlaneDeps, caller: Caller, request: WriteFileRequest, signal: AbortSignal): Promise<AuthorizedWrite> {
  requireWithinLimit(deps, request.expected.size);
  const answer = await deps.control.authorizeWrite(
    { clientToken: caller.token, packageId: request.packageId, relativePath: request.relativePath, replace: request.replace },
    { signal },
  );
  const backendId = backendById(deps, answer.backendId).id;
  return { ...request, relativePath: answer.relativePath || request.relativePath, caller, backendId };
}

/** Streams `source` into storage and records the file; see the file comment. */
export async function writeAuthorizedFile(deps: DataPlaneDeps, write: AuthorizedWrite, source: ChunkSource | AsyncIterable<Uint8Array>, signal: AbortSignal): Promise<File> {
  const ingested = await ingestObject(source, withBackend(deps, backendById(deps, write.backendId ?? '')), { expected: write.expected, maxBytes: deps.maxUploadBytes, signal });
  return recordFile(deps, write, ingested.digests, ingested.storageKey, signal);
}

/**
 * Records verified bytes as a file of the package; returns the recorded file. With `uploadId`, the file
 * completes that upload session, which must be completing under its completion id (`upload-sessions.ts`).
 */
export async function recordFile(
  deps: DataPlaneDeps,
  write: AuthorizedWrite,
  digests: { readonly blake3: { toString(): string }; readonly sha256: { toString(): string }; readonly size: number },
  storageKey: string,
  signal: AbortSignal,
  upload?: { readonly uploadId: string; readonly completionId: string },
): Promise<File> {
  const { file } = await deps.control.recordFile(
    {
      clientToken: write.caller.token,
      packageId: write.packageId,
      relativePath: write.relativePath,
      mediaType: write.mediaType || DEFAULT_MEDIA_TYPE,
      digests: { blake3: digests.blake3.toString(), sha256: digests.sha256.toString(), size: BigInt(digests.size) },
      backendId: backendById(deps, write.backendId ?? '').id,
      storageKey,
      replace: write.replace,
      uploadId: upload?.uploadId ?? '',
      uploadCompletionId: upload?.completionId ?? '',
    },
    { signal },
  );
  if (file === undefined) throw new Error('control plane recorded a file but returned none');
  return file;
}

/** Throws `backend-unavailable` unless `backendId` (empty: the control plane's default) is one of ours. */
export function requireOwnBackend(deps: DataPlaneDeps, backendId: string): void {
  backendById(deps, backendId);
}
