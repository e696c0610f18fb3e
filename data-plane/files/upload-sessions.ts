/**
 * Resumable upload sessions, independent of transport. The control plane owns each session's record
 * (who may use it, what file it becomes, open/completing/completed/aborted/expired); the bytes are parts
 * on the backend (`upload-parts.ts`). Every call is authorized by the control plane with the caller's
 * token.
 *
 * - append: the chunk must start at the current offset (else `offset-mismatch` carrying the offset).
 *   After storing it the session is checked again, and the chunk is acknowledged only if the session
 *   is still open: a completion begins by marking the session completing and only then lists the parts,
 *   so every acknowledged chunk is in the file. A chunk that raced an abort is removed; one that raced
 *   the start of a completion is answered `upload-closed`, and may or may not be in the file (the
 *   completed file's size says which), since the completion may already have listed it.
 * - complete: authorize the write, check the parts against the announced sizes, mark the session
 *   completing (no more chunks; a retry of a completion that died takes over), list the parts again and
 *   ingest them in order through `ingestObject` (so size and both digests are computed and checked over
 *   the whole file), then record the file with the upload id: the control plane records it and closes
 *   the session as completed in one transaction, only while the session is still completing. An abort
 *   or an expiry that came first wins (the completion answers `upload-closed` or `upload-expired`), and
 *   of two completions one records the file. Then the parts are deleted.
 * - abort: close the session as aborted (open or completing), delete the parts.
 * - expiry: a session not completed by its `expires_at` (24 h after it opened) is reported `expired` by
 *   the control plane: chunks, new completions and status answer `upload-expired`. An abort then still
 *   records `aborted` and deletes the parts. Once the session is `purgeable` (an hour later, so a
 *   completion that began in time has finished), the first request that meets it records the expiry
 *   (`v1.upload.expired`) and deletes the parts; an abort succeeds. A session nobody asks about again
 *   is expired by the upload sweep (`upload-sweep.ts`).
 */
import { timestampDate } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError } from '@connectrpc/connect';
import type { File } from '../../gen/artifactstore/v1/package_pb.ts';
import type { UploadSession } from '../../gen/artifactstore/internal/v1/control_service_pb.ts';
import { CodedError } from '../../core/errors/coded-error.ts';
import { IngestError } from '../ingest/ingest-error.ts';
import { ingestObject, type ChunkSource } from '../ingest/ingest-object.ts';
import { DataPlaneError } from '../errors/data-plane-error.ts';
import { backendById, withBackend } from './backend-choice.ts';
import type { Caller, DataPlaneDeps } from './data-plane-deps.ts';
import { contiguousOffset, declaredSize, declareSize, deleteParts, listParts, readParts, requireContiguous, stagingPrefix, writePart } from './upload-parts.ts';
import { authorizeWrite, recordFile, requireOwnBackend, requireWithinLimit, type WriteFileRequest } from './write-file.ts';

const CLEANUP_TIMEOUT_MS = 60_000;

/** What a client asks for when opening a session. */
export type CreateSessionRequest = WriteFileRequest;

/** State of a session as the data plane reports it. */
export interface SessionStatus {
  readonly session: UploadSession;
  /** Bytes held while open or completing; once completed, the file's size; otherwise 0. */
  readonly offset: number;
  /** The file's size as announced when the session opened, or as a chunk's Content-Range declared it. */
  readonly length?: number;
}

/** Opens a session; the control plane checks the package, path and caller. */
export async function createSession(deps: DataPlaneDeps, caller: Caller, request: CreateSessionRequest, signal: AbortSignal): Promise<UploadSession> {
  const { expected } = request;
  // Refused now, not after the client has sent the limit's worth of chunks.
  requireWithinLimit(deps, expected.size);
  const { session } = await deps.control.createUploadSession(
    {
      clientToken: caller.token,
      packageId: request.packageId,
      relativePath: request.relativePath,
      mediaType: request.mediaType,
      ...(expected.size === undefined ? {} : { expectedSize: BigInt(expected.size) }),
      expectedSha256: expected.sha256 ?? '',
      expectedBlake3: expected.blake3 ?? '',
      replace: request.replace,
    },
    { signal },
  );
  if (session === undefined) throw new Error('control plane created an upload session but returned none');
  requireOwnBackend(deps, session.backendId);
  return session;
}

/** The session and its current offset. */
export async function sessionStatus(deps: DataPlaneDeps, caller: Caller, uploadId: string, signal: AbortSignal): Promise<SessionStatus> {
  const session = await getSession(deps, caller, uploadId, signal);
  if (session.status === 'expired') throw await expire(deps, caller, session, signal);
  if (session.status === 'completed' && session.fileId !== '') {
    try {
      const { file } = await deps.control.resolveRead({ clientToken: caller.token, fileId: session.fileId }, { signal });
      return { session, offset: Number(file?.digests?.size ?? 0n) };
    } catch (error) {
      // Replaced since (a package keeps only its current files): the session still names it.
      if (!(error instanceof ConnectError && error.code === Code.NotFound)) throw error;
    }
  }
  if (!isUnfinished(session)) return { session, offset: 0 };
  const backend = backendById(deps, session.backendId);
  const prefix = stagingPrefix(session.uploadId, session.stagingKey);
  const parts = await listParts(backend, prefix, signal);
  const length = session.expectedSize === undefined ? await declaredSize(backend, prefix, signal) : Number(session.expectedSize);
  return { session, offset: contiguousOffset(parts), ...(length === undefined ? {} : { length }) };
}

/**
 * A chunk of a session: bytes from `start`; `length` when declared up front (HTTP Content-Range),
 * undefined for a stream of unknown length (gRPC); `total` when the client declared the file size.
 */
export interface Chunk {
  readonly start: number;
  readonly length: number | undefined;
  readonly total: number | undefined;
}

/** Stores one chunk; resolves with the new offset. See the file comment. */
export async function appendChunk(deps: DataPlaneDeps, caller: Caller, uploadId: string, chunk: Chunk, source: ChunkSource | AsyncIterable<Uint8Array>, signal: AbortSignal): Promise<number> {
  const session = await getOpenSession(deps, caller, uploadId, signal);
  const prefix = stagingPrefix(session.uploadId, session.stagingKey);
  const partsBackend = backendById(deps, session.backendId);
  let expectedSize = session.expectedSize === undefined ? undefined : Number(session.expectedSize);
  if (chunk.total !== undefined && expectedSize !== undefined && chunk.total !== expectedSize) {
    throw new DataPlaneError('invalid-content-range', `Content-Range total ${chunk.total} differs from the session's expected size ${expectedSize}`);
  }
  requireWithinLimit(deps, chunk.total);
  // The first total a chunk declares binds the session: later chunks and the completion are held to it.
  const declared = expectedSize === undefined ? await declaredSize(partsBackend, prefix, signal) : undefined;
  const mismatch = (size: number): DataPlaneError => new DataPlaneError('invalid-content-range', `Content-Range total ${chunk.total} differs from the size ${size} an earlier chunk declared`);
  if (declared !== undefined && chunk.total !== undefined && chunk.total !== declared) throw mismatch(declared);
  expectedSize ??= declared;
  const limit = Math.min(deps.maxUploadBytes, chunk.total ?? Number.MAX_SAFE_INTEGER, expectedSize ?? Number.MAX_SAFE_INTEGER);
  if (chunk.start + (chunk.length ?? 0) > limit) {
    throw limit === deps.maxUploadBytes && limit < (chunk.total ?? Infinity) && limit < (expectedSize ?? Infinity)
      ? new DataPlaneError('payload-too-large', `uploads are limited to ${deps.maxUploadBytes} bytes`)
      : new DataPlaneError('invalid-content-range', `the chunk ends at byte ${chunk.start + (chunk.length ?? 0)}, past the file's size ${limit}`);
  }
  const offset = contiguousOffset(await listParts(partsBackend, prefix, signal));
  if (chunk.start !== offset) {
    throw new DataPlaneError('offset-mismatch', `the chunk starts at ${chunk.start} but the session holds ${offset} bytes; resume at ${offset}`, { facts: { uploadOffset: offset } });
  }
  if (expectedSize === undefined && chunk.total !== undefined) {
    // Declared by a chunk that is otherwise acceptable; a concurrent chunk may have declared first.
    const first = await declareSize(partsBackend, prefix, chunk.total, signal);
    if (first !== chunk.total) throw mismatch(first);
  }
  let written: number;
  try {
    written = await writePart(partsBackend, prefix, offset, { length: chunk.length, maxBytes: Math.max(0, limit - offset) }, source, signal);
  } catch (error) {
    // What this chunk wrote (the declared size) must not outlive a session that closed meanwhile.
    const now = await getSession(deps, caller, uploadId, AbortSignal.timeout(CLEANUP_TIMEOUT_MS)).catch(() => undefined);
    if (now !== undefined && !isUnfinished(now) && now.status !== 'expired') await removeParts(deps, prefix, session.backendId);
    throw error;
  }
  // Stored; acknowledged only if the session is still open (see the file comment).
  const after = await getSession(deps, caller, uploadId, signal);
  if (after.status === 'expired') throw await expire(deps, caller, after, signal);
  if (after.status === 'completing') {
    // The completion may have listed this part already: it stays until the session closes.
    throw new DataPlaneError('upload-closed', `upload session ${uploadId} began completing while this chunk was stored; the completed file's size says whether it holds these bytes`);
  }
  if (after.status !== 'open') {
    // Closed: nobody will ever read or delete this part but us.
    await removeParts(deps, prefix, session.backendId);
    throw closedError(after);
  }
  return offset + written;
}

/** Ingests the parts as one file and records it; see the file comment. */
export async function completeSession(deps: DataPlaneDeps, caller: Caller, uploadId: string, signal: AbortSignal): Promise<File> {
  const session = await getSession(deps, caller, uploadId, signal);
  if (session.status === 'expired') throw await expire(deps, caller, session, signal);
  if (!isUnfinished(session)) throw closedError(session);
  const write = await authorizeWrite(
    deps,
    caller,
    { packageId: session.packageId, relativePath: session.relativePath, mediaType: session.mediaType, replace: session.replace, expected: {} },
    signal,
  );
  const prefix = stagingPrefix(session.uploadId, session.stagingKey);
  const partsBackend = backendById(deps, session.backendId);
  const declared = await declaredSize(partsBackend, prefix, signal);
  // Checked while the session still takes chunks: one short of its announced size stays open for the rest.
  if (session.status === 'open') checkSize(session, declared, requireContiguous(await listParts(partsBackend, prefix, signal)));
  const { completionId } = await deps.control.beginUploadCompletion({ clientToken: caller.token, uploadId }, { signal });
  let file: File;
  try {
    // From here on no chunk is acknowledged: these parts, and the size declared by then, are the file.
    const parts = await listParts(partsBackend, prefix, signal);
    const size = checkSize(session, await declaredSize(partsBackend, prefix, signal), requireContiguous(parts));
    const expected = {
      size,
      ...(session.expectedSha256 === '' ? {} : { sha256: session.expectedSha256 }),
      ...(session.expectedBlake3 === '' ? {} : { blake3: session.expectedBlake3 }),
    };
    // Parts live on the session's backend; the file goes where the control plane routes it now.
    const ingested = await ingestObject(readParts(partsBackend, parts, signal), withBackend(deps, backendById(deps, write.backendId ?? '')), { expected, maxBytes: deps.maxUploadBytes, signal });
    file = await recordFile(deps, write, ingested.digests, ingested.storageKey, signal, { uploadId, completionId });
  } catch (error) {
    await reopen(deps, caller, uploadId, completionId, error);
    throw await explainRefusal(deps, caller, uploadId, error, signal);
  }
  await removeParts(deps, prefix, session.backendId);
  return file;
}

/**
 * The error to answer a failed completion with: when the control plane refused to record the file
 * because the session closed meanwhile (an abort or a recorded expiry came first, or another completion
 * took over), the session's state says so in the data plane's own terms; otherwise `error` itself.
 */
async function explainRefusal(deps: DataPlaneDeps, caller: Caller, uploadId: string, error: unknown, signal: AbortSignal): Promise<unknown> {
  if (!(error instanceof ConnectError && error.code === Code.FailedPrecondition)) return error;
  const now = await getSession(deps, caller, uploadId, signal).catch(() => undefined);
  if (now === undefined || isUnfinished(now)) return error;
  if (now.status === 'expired') return new DataPlaneError('upload-expired', `upload session ${uploadId} expired before its completion could record the file; start a new one`);
  return new DataPlaneError('upload-closed', `upload session ${uploadId} was ${now.status} while this completion ran; its file was not recorded by it`);
}

/**
 * After a failed completion: opens the session again (a no-op when the session closed or another
 * completion took over meanwhile), so the client can send the rest or complete again. When that fails
 * too, the session stays completing until a new completion takes over, an abort, or its expiry.
 */
async function reopen(deps: DataPlaneDeps, caller: Caller, uploadId: string, completionId: string, failure: unknown): Promise<void> {
  let reason = 'internal';
  if (failure instanceof CodedError) reason = String(failure.code);
  else if (failure instanceof ConnectError) reason = Code[failure.code];
  try {
    // Its own signal: a client that hung up (the usual cause of a cancelled completion) must not stop it.
    await deps.control.abandonUploadCompletion({ clientToken: caller.token, uploadId, completionId, reason: String(reason) }, { signal: AbortSignal.timeout(CLEANUP_TIMEOUT_MS) });
  } catch (error) {
    deps.log(`upload ${uploadId}: could not reopen it after its completion failed: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/**
 * Returns `size` when it is the size the session announced when it opened, or that a chunk's
 * Content-Range declared (if any), else throws `size-mismatch`.
 */
function checkSize(session: UploadSession, declared: number | undefined, size: number): number {
  if (session.expectedSize !== undefined && Number(session.expectedSize) !== size) {
    throw new IngestError('size-mismatch', `the session holds ${size} bytes but ${String(session.expectedSize)} were announced`);
  }
  if (declared !== undefined && declared !== size) throw new IngestError('size-mismatch', `the session holds ${size} bytes but a Content-Range declared ${declared}`);
  return size;
}

/**
 * Aborts a session and deletes its parts. Aborting an aborted or expired session succeeds; a purgeable
 * one has its expiry recorded, not an abort.
 */
export async function abortSession(deps: DataPlaneDeps, caller: Caller, uploadId: string, signal: AbortSignal): Promise<void> {
  const session = await getSession(deps, caller, uploadId, signal);
  if (session.status === 'expired' && session.purgeable) {
    await expire(deps, caller, session, signal);
    return;
  }
  if (isUnfinished(session) || session.status === 'expired') {
    await deps.control.closeUploadSession({ clientToken: caller.token, uploadId: session.uploadId, status: 'aborted' }, { signal });
  } else if (session.status === 'completed') {
    throw closedError(session);
  }
  await removeParts(deps, stagingPrefix(session.uploadId, session.stagingKey), session.backendId);
}

async function getSession(deps: DataPlaneDeps, caller: Caller, uploadId: string, signal: AbortSignal): Promise<UploadSession> {
  const { session } = await deps.control.getUploadSession({ clientToken: caller.token, uploadId }, { signal });
  if (session === undefined) throw new Error('control plane returned no upload session');
  requireOwnBackend(deps, session.backendId);
  return session;
}

async function getOpenSession(deps: DataPlaneDeps, caller: Caller, uploadId: string, signal: AbortSignal): Promise<UploadSession> {
  const session = await getSession(deps, caller, uploadId, signal);
  if (session.status === 'expired') throw await expire(deps, caller, session, signal);
  if (session.status !== 'open') throw closedError(session);
  return session;
}

/**
 * For a session the control plane reports expired: once it is purgeable, records the expiry (a no-op
 * when already recorded) and deletes its parts. Returns the error to answer with.
 */
async function expire(deps: DataPlaneDeps, caller: Caller, session: UploadSession, signal: AbortSignal): Promise<DataPlaneError> {
  if (session.purgeable) {
    await deps.control.closeUploadSession({ clientToken: caller.token, uploadId: session.uploadId, status: 'expired' }, { signal });
    await removeParts(deps, stagingPrefix(session.uploadId, session.stagingKey), session.backendId);
  }
  // The control plane always sets expires_at; the answer does not depend on it.
  const when = session.expiresAt === undefined ? '' : ` at ${deadlineOf(session)}`;
  return new DataPlaneError('upload-expired', `upload session ${session.uploadId} expired${when} before it completed; start a new one`);
}

/** Until when the session accepts chunks and completion, RFC 3339 (UTC). */
export function deadlineOf(session: UploadSession): string {
  if (session.expiresAt === undefined) throw new Error(`control plane returned upload session ${session.uploadId} without expires_at`);
  return timestampDate(session.expiresAt).toISOString();
}

/** Open or completing: not yet closed. */
function isUnfinished(session: UploadSession): boolean {
  return session.status === 'open' || session.status === 'completing';
}

function closedError(session: UploadSession): DataPlaneError {
  return new DataPlaneError('upload-closed', `upload session ${session.uploadId} is ${session.status}`);
}

// Parts of a closed session are garbage: failing to delete them must not fail the request that closed
// it, and a client hanging up right after the close must not stop the cleanup (hence its own signal).
async function removeParts(deps: DataPlaneDeps, prefix: string, backendId: string): Promise<void> {
  try {
    await deleteParts(backendById(deps, backendId), prefix, AbortSignal.timeout(CLEANUP_TIMEOUT_MS));
  } catch (error) {
    deps.log(`could not delete upload parts under ${prefix}: ${error instanceof Error ? error.message : String(error)}`);
  }
}
