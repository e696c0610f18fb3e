/**
 * Upload-session routes (resumable, chunked uploads; state lives in the control plane and on the backend):
 * - `POST /uploads` with JSON `{ package_id, relative_path, media_type?, expected_size?, expected_sha256?,
 *   expected_blake3?, replace? }` → 201 `{ upload_id, url, offset: 0, expires_at }`, `Location` and
 *   `Upload-Expires` (RFC 3339: chunks and completion are accepted until then).
 * - `PATCH /uploads/{id}` with `Content-Range: bytes a-b/total|*` and a matching `Content-Length`
 *   → 204 with `Upload-Offset: n` (and `Range: bytes=0-(n-1)`). A chunk not starting at the current
 *   offset → 416 `offset-mismatch` with the same headers; a repeated chunk is such a chunk.
 * - `HEAD /uploads/{id}` → 200 with `Upload-Status`, `Upload-Length` when the size was announced, and
 *   while open `Upload-Offset`, `Range` and `Upload-Expires`; an aborted session → 409 `upload-closed`.
 * - `POST /uploads/{id}/complete` → 201 with the file JSON.
 * - `DELETE /uploads/{id}` → 204; the parts are deleted.
 * A session past its deadline answers 410 `upload-expired` (see `upload-sessions.ts`), except DELETE.
 */
import { normalizeRelativePath } from '../../core/paths/relative-path.ts';
import { DataPlaneError } from '../errors/data-plane-error.ts';
import type { Caller, DataPlaneDeps } from '../files/data-plane-deps.ts';
import { abortSession, appendChunk, completeSession, createSession, deadlineOf, sessionStatus, type CreateSessionRequest } from '../files/upload-sessions.ts';
import { fileJson } from './file-json.ts';
import { chunkContentRange } from './headers.ts';
import { acceptBody, parseJsonObject, readSmallBody, requestBody, respond, respondJson, type HttpRequest, type HttpResponse } from './http-io.ts';

const MAX_JSON_BYTES = 64 * 1024;

/** `POST /uploads`. */
export async function postUpload(deps: DataPlaneDeps, caller: Caller, baseUrl: string, req: HttpRequest, res: HttpResponse, signal: AbortSignal): Promise<void> {
  acceptBody(req, res);
  const request = parseCreateBody(await readSmallBody(req, MAX_JSON_BYTES));
  const session = await createSession(deps, caller, request, signal);
  const path = `/uploads/${encodeURIComponent(session.uploadId)}`;
  const expires = deadlineOf(session);
  respondJson(res, 201, { upload_id: session.uploadId, url: baseUrl + path, offset: 0, expires_at: expires }, { location: path, 'upload-offset': '0', 'upload-expires': expires });
}

/** `PATCH /uploads/{id}`. */
export async function patchUpload(deps: DataPlaneDeps, caller: Caller, uploadId: string, req: HttpRequest, res: HttpResponse, signal: AbortSignal): Promise<void> {
  const range = chunkContentRange(req);
  // The session is checked inside appendChunk before the body is read; 100 Continue only after that
  // would need a second round trip, so the body is accepted now and bounded by the declared length.
  acceptBody(req, res);
  const offset = await appendChunk(deps, caller, uploadId, range, requestBody(req, range.length), signal);
  respond(res, 204, offsetHeaders(offset));
}

/** `HEAD /uploads/{id}`. */
export async function headUpload(deps: DataPlaneDeps, caller: Caller, uploadId: string, res: HttpResponse, signal: AbortSignal): Promise<void> {
  const { session, offset, length } = await sessionStatus(deps, caller, uploadId, signal);
  const { status } = session;
  if (status !== 'open' && status !== 'completing' && status !== 'completed') throw new DataPlaneError('upload-closed', `upload session ${session.uploadId} is ${status}`);
  // A completed session's parts are gone; it names its file (whose size is not an offset to resume at).
  const headers: Record<string, string> = { ...(status === 'completed' ? { 'cache-control': 'no-store' } : offsetHeaders(offset)), 'upload-status': status, 'content-length': '0' };
  if (length !== undefined) headers['upload-length'] = String(length);
  else if (session.expectedSize !== undefined) headers['upload-length'] = String(session.expectedSize);
  if (status !== 'completed') headers['upload-expires'] = deadlineOf(session);
  if (status === 'completed' && session.fileId !== '') {
    headers['upload-file-id'] = session.fileId;
    headers['content-location'] = `/files/${session.fileId}/download`;
  }
  respond(res, 200, headers);
}

/** `POST /uploads/{id}/complete`. */
export async function completeUpload(deps: DataPlaneDeps, caller: Caller, uploadId: string, res: HttpResponse, signal: AbortSignal): Promise<void> {
  const file = await completeSession(deps, caller, uploadId, signal);
  respondJson(res, 201, fileJson(file), { location: `/files/${file.fileId}/download` });
}

/** `DELETE /uploads/{id}`. */
export async function deleteUpload(deps: DataPlaneDeps, caller: Caller, uploadId: string, res: HttpResponse, signal: AbortSignal): Promise<void> {
  await abortSession(deps, caller, uploadId, signal);
  respond(res, 204, {});
}

function offsetHeaders(offset: number): Record<string, string> {
  const headers: Record<string, string> = { 'upload-offset': String(offset), 'cache-control': 'no-store' };
  if (offset > 0) headers['range'] = `bytes=0-${offset - 1}`;
  return headers;
}

/** Validates the JSON body of `POST /uploads`; unknown fields are refused so typos do not pass silently. */
export function parseCreateBody(body: Buffer): CreateSessionRequest {
  const fields = parseJsonObject(body, ['package_id', 'relative_path', 'media_type', 'expected_size', 'expected_sha256', 'expected_blake3', 'replace']);
  const text = (name: string, required: boolean): string => {
    const v = fields[name];
    if (v === undefined || v === null) {
      if (required) throw new DataPlaneError('bad-request', `"${name}" is required`);
      return '';
    }
    if (typeof v !== 'string') throw new DataPlaneError('bad-request', `"${name}" must be a string`);
    return v;
  };
  const sizeValue = fields['expected_size'];
  let size: number | undefined;
  if (sizeValue !== undefined && sizeValue !== null) {
    size = typeof sizeValue === 'string' && /^(0|[1-9]\d{0,14})$/.test(sizeValue) ? Number(sizeValue) : typeof sizeValue === 'number' ? sizeValue : NaN;
    if (!Number.isSafeInteger(size) || size < 0) throw new DataPlaneError('bad-request', '"expected_size" must be a non-negative integer');
  }
  const replace = fields['replace'];
  if (replace !== undefined && typeof replace !== 'boolean') throw new DataPlaneError('bad-request', '"replace" must be a boolean');
  const sha256 = text('expected_sha256', false);
  const blake3 = text('expected_blake3', false);
  return {
    packageId: text('package_id', true),
    relativePath: normalizeRelativePath(text('relative_path', true)),
    mediaType: text('media_type', false),
    replace: replace === true,
    expected: { ...(size === undefined ? {} : { size }), ...(sha256 === '' ? {} : { sha256 }), ...(blake3 === '' ? {} : { blake3 }) },
  };
}
