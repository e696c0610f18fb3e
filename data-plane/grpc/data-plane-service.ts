/**
 * `artifactstore.v1.DataPlaneService` over Connect, gRPC and gRPC-Web. Handlers translate transport to
 * the file operations in `files/` and nothing more; every error leaves through `serviceError` and
 * `toConnectError` (the one mapping, with the stable reason in the `artifactstore-reason`
 * header/trailer). gRPC WriteFile calls with the binary codec and no compression arrive through
 * `write-file-fast-path.ts` instead (ADR 0019), which shares `writeFileAfterHeader` and `serviceError`.
 *
 * WriteFile (client streaming; header first, then data):
 * - no `upload_id`, `resumable` false: a single-shot write (authorize → ingest → record) → `file`.
 * - `upload_id` set: append the data to that session at `write_offset` (must equal its current offset,
 *   else FAILED_PRECONDITION with the offset in `artifactstore-upload-offset`); then, unless
 *   `resumable`, complete the session → `file`; with `resumable`, answer `upload_id` + `committed_size`.
 * - no `upload_id`, `resumable` true: open a session from the header first, then as above from offset 0.
 * The bytes of one stream are stored only when the stream ends normally; a stream cut short leaves
 * the session as it was before it (resume from QueryWriteStatus).
 *
 * ReadFile (server streaming): `read_offset`/`read_limit` (0: to the end) in chunks of at most 1 MiB,
 * well under grpc-js's default 4 MiB receive limit.
 */
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from '@connectrpc/connect';
import { create } from '@bufbuild/protobuf';
import type { DataPlaneService } from '../../gen/artifactstore/v1/data_plane_service_pb.ts';
import {
  ReadFileResponseSchema,
  WriteFileResponseSchema,
  type ReadFileRequest,
  type WriteFileHeader,
  type WriteFileRequest,
  type WriteFileResponse,
} from '../../gen/artifactstore/v1/data_plane_service_pb.ts';
import { normalizeRelativePath } from '../../core/paths/relative-path.ts';
import { ERROR_CODE_HEADER, toConnectError } from '../errors/classify-error.ts';
import { DataPlaneError } from '../errors/data-plane-error.ts';
import type { Caller, DataPlaneDeps } from '../files/data-plane-deps.ts';
import { openFileRange, resolveFile, type FileSelector } from '../files/read-file.ts';
import { appendChunk, completeSession, createSession, sessionStatus } from '../files/upload-sessions.ts';
import { authorizeWrite, writeAuthorizedFile, type WriteFileRequest as FileWrite } from '../files/write-file.ts';
import type { ChunkSource } from '../ingest/ingest-object.ts';

/** Largest data message ReadFile sends. */
export const READ_CHUNK_BYTES = 1024 * 1024;

/** Response header / trailer naming the session offset after an `offset-mismatch`. */
export const UPLOAD_OFFSET_HEADER = 'artifactstore-upload-offset';

/** The service implementation, for `router.service(DataPlaneService, …)`. */
export function createDataPlaneService(deps: DataPlaneDeps): ServiceImpl<typeof DataPlaneService> {
  return {
    async writeFile(requests, context) {
      return guard(context.signal, () => writeFile(deps, callerOf(context), requests, context.signal));
    },
    async queryWriteStatus(request, context) {
      return guard(context.signal, async () => {
        const { session, offset } = await sessionStatus(deps, callerOf(context), requireId(request.uploadId, 'upload_id'), context.signal);
        const complete = session.status === 'completed';
        if (!complete && session.status !== 'open' && session.status !== 'completing') throw new DataPlaneError('upload-closed', `upload session ${session.uploadId} is ${session.status}`);
        return { committedSize: BigInt(offset), complete, fileId: session.fileId, ...(complete || session.expiresAt === undefined ? {} : { expiresAt: session.expiresAt }) };
      });
    },
    async *readFile(request, context) {
      let iterator: AsyncIterator<Uint8Array> | undefined;
      try {
        const bytes = await openRead(deps, callerOf(context), request, context.signal);
        iterator = bytes[Symbol.asyncIterator]();
      } catch (error) {
        throw toConnectError(error);
      }
      try {
        for (;;) {
          let step: IteratorResult<Uint8Array>;
          try {
            step = await iterator.next();
          } catch (error) {
            throw toConnectError(error);
          }
          if (step.done === true) return;
          for (let at = 0; at < step.value.byteLength; at += READ_CHUNK_BYTES) {
            yield create(ReadFileResponseSchema, { data: step.value.subarray(at, at + READ_CHUNK_BYTES) });
          }
        }
      } finally {
        await iterator.return?.();
      }
    },
  };
}

async function guard<T>(signal: AbortSignal, action: () => Promise<T>): Promise<T> {
  try {
    return await action();
  } catch (error) {
    throw serviceError(error, signal);
  }
}

/**
 * What a failed call answers: the one mapping (`toConnectError`), plus the session offset when there is
 * one. A call whose deadline (`grpc-timeout`) passed failed because of it, whatever it was doing then:
 * DEADLINE_EXCEEDED, not the aborted write or control-plane call it shows up as.
 */
export function serviceError(error: unknown, signal: AbortSignal): ConnectError {
  const reason: unknown = signal.aborted ? signal.reason : undefined;
  if (reason instanceof ConnectError && reason.code === Code.DeadlineExceeded) {
    return new ConnectError("[deadline-exceeded] the call's deadline passed", Code.DeadlineExceeded, { [ERROR_CODE_HEADER]: 'deadline-exceeded' }, undefined, error);
  }
  const connectError = toConnectError(error);
  if (error instanceof DataPlaneError && error.facts.uploadOffset !== undefined) connectError.metadata.set(UPLOAD_OFFSET_HEADER, String(error.facts.uploadOffset));
  return connectError;
}

function callerOf(context: HandlerContext): Caller {
  return callerFromAuthorization(context.requestHeader.get('authorization'));
}

/** The caller a request's `authorization` header names (`Bearer <token>`; none: anonymous). */
export function callerFromAuthorization(header: string | null | undefined): Caller {
  const value = header ?? '';
  const match = /^Bearer +([\x21-\x7e]+)$/i.exec(value);
  if (value !== '' && match === null) throw new ConnectError('authorization must be "Bearer <token>"', Code.Unauthenticated);
  return { token: match?.[1] ?? '' };
}

async function writeFile(deps: DataPlaneDeps, caller: Caller, requests: AsyncIterable<WriteFileRequest>, signal: AbortSignal): Promise<WriteFileResponse> {
  const iterator = requests[Symbol.asyncIterator]();
  const first = await nextRequest(iterator);
  return writeFileAfterHeader(deps, caller, headerOf(first.done === true ? undefined : first.value), dataMessages(iterator), signal);
}

async function nextRequest(iterator: AsyncIterator<WriteFileRequest>): Promise<IteratorResult<WriteFileRequest>> {
  try {
    return await iterator.next();
  } catch (error) {
    throw requestStreamError(error);
  }
}

/**
 * An error of the request stream itself: connect-node's framing and decoding (the fast path raises the
 * same ones), or the stream failing. The client's, never the control plane's: left as a ConnectError,
 * `toConnectError` would take it for a failure to reach the control plane ("retry later").
 */
export function requestStreamError(error: unknown): unknown {
  if (error instanceof DataPlaneError) return error;
  if (error instanceof ConnectError) {
    // A message over the limit; then a stream that ends inside a message, a malformed message or
    // grpc-timeout, or a compressed message on a call without compression.
    if (error.code === Code.ResourceExhausted) return new DataPlaneError('payload-too-large', error.rawMessage, { cause: error });
    if (error.code === Code.InvalidArgument || error.code === Code.Internal) return new DataPlaneError('bad-request', error.rawMessage, { cause: error });
    return error; // an unknown compression (UNIMPLEMENTED), a cancelled stream (CANCELED): as they are
  }
  return streamEndedEarly(error);
}

/** The WriteFile stream failed before its end: the client cancelled it or the connection closed. */
export function streamEndedEarly(cause: unknown): DataPlaneError {
  return new DataPlaneError('incomplete-body', 'the WriteFile stream ended early (the client cancelled it or closed the connection)', { cause });
}

/** The header the first WriteFile message must carry (`bad-request` when it does not, or there is none). */
export function headerOf(first: WriteFileRequest | undefined): WriteFileHeader {
  if (first?.kind.case !== 'header') throw new DataPlaneError('bad-request', 'the first WriteFile message must carry the header');
  return first.kind.value;
}

/** The error for a header after the first message. */
export function laterHeaderError(): DataPlaneError {
  return new DataPlaneError('bad-request', 'only the first WriteFile message may carry a header');
}

/**
 * WriteFile once its header is read; `data` is the bytes of the messages after it. Shared by the
 * connect-node handler and the gRPC fast path (`write-file-fast-path.ts`).
 */
export async function writeFileAfterHeader(deps: DataPlaneDeps, caller: Caller, header: WriteFileHeader, data: ChunkSource | AsyncIterable<Uint8Array>, signal: AbortSignal): Promise<WriteFileResponse> {
  if (header.uploadId === '' && !header.resumable) {
    const write = await authorizeWrite(deps, caller, fileWriteOf(header), signal);
    const file = await writeAuthorizedFile(deps, write, data, signal);
    return create(WriteFileResponseSchema, { file, committedSize: file.digests?.size ?? 0n });
  }
  let uploadId = header.uploadId;
  let start = Number(header.writeOffset);
  if (uploadId === '') {
    uploadId = (await createSession(deps, caller, fileWriteOf(header), signal)).uploadId;
    start = 0;
  }
  const offset = await appendChunk(deps, caller, uploadId, { start, length: undefined, total: undefined }, data, signal);
  if (header.resumable) return create(WriteFileResponseSchema, { uploadId, committedSize: BigInt(offset) });
  const file = await completeSession(deps, caller, uploadId, signal);
  return create(WriteFileResponseSchema, { file, uploadId, committedSize: BigInt(offset) });
}

async function* dataMessages(iterator: AsyncIterator<WriteFileRequest>): AsyncGenerator<Uint8Array> {
  for (;;) {
    const step = await nextRequest(iterator);
    if (step.done === true) return;
    const { kind } = step.value;
    if (kind.case === 'data') yield kind.value;
    else if (kind.case === 'header') throw laterHeaderError();
  }
}

function fileWriteOf(header: WriteFileHeader): FileWrite {
  return {
    packageId: requireId(header.packageId, 'package_id'),
    relativePath: normalizeRelativePath(header.relativePath),
    mediaType: header.mediaType,
    replace: header.replace,
    expected: {
      ...(header.expectedSize === undefined ? {} : { size: safeNumber(header.expectedSize, 'expected_size') }),
      ...(header.expectedSha256 === '' ? {} : { sha256: header.expectedSha256 }),
      ...(header.expectedBlake3 === '' ? {} : { blake3: header.expectedBlake3 }),
    },
  };
}

async function openRead(deps: DataPlaneDeps, caller: Caller, request: ReadFileRequest, signal: AbortSignal): Promise<AsyncIterable<Uint8Array>> {
  if (request.fileId !== '' && (request.packageId !== '' || request.relativePath !== '')) throw new DataPlaneError('bad-request', 'give either file_id, or package_id and relative_path');
  const selector: FileSelector =
    request.fileId !== ''
      ? { fileId: requireId(request.fileId, 'file_id') }
      : { packageId: requireId(request.packageId, 'package_id'), relativePath: normalizeRelativePath(request.relativePath) };
  const resolved = await resolveFile(deps, caller, selector, signal);
  const offset = safeNumber(request.readOffset, 'read_offset');
  if (offset > resolved.size) throw new DataPlaneError('range-not-satisfiable', `read_offset ${offset} is past the end of the ${resolved.size}-byte file`, { facts: { size: resolved.size } });
  const limit = safeNumber(request.readLimit, 'read_limit');
  return openFileRange(deps, resolved, limit === 0 ? { offset } : { offset, length: limit }, signal);
}

function requireId(value: string, name: string): string {
  if (!/^[A-Za-z0-9_-]{1,128}$/.test(value)) throw new DataPlaneError('bad-request', `${name} is missing or malformed`);
  return value;
}

function safeNumber(value: bigint, name: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new DataPlaneError('bad-request', `${name} is too large`);
  return Number(value);
}
