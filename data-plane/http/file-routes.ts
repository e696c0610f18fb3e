/**
 * Single-shot upload and downloads:
 * - `PUT /packages/{id}/files/{path}[?replace=true]`: body = the file (works with `curl -T`);
 *   `Content-Type` = media type; `X-Artifact-Sha256` / `X-Artifact-Blake3` and `Content-Length` are
 *   checked. Authorized before a byte is read (`100 Continue` is sent only then), streamed through
 *   ingest, recorded → 201 with the file as JSON.
 * - `GET|HEAD /packages/{id}/files/{path}` and `GET|HEAD /files/{file_id}/download`: one `Range`
 *   (206 / 416 with `bytes *\/size`; several ranges → 200 with the whole file), `ETag` = the quoted
 *   BLAKE3 content address, `If-None-Match` → 304, `If-Range`, streamed with backpressure.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import type { File } from '../../gen/artifactstore/v1/package_pb.ts';
import { DataPlaneError } from '../errors/data-plane-error.ts';
import type { Caller, DataPlaneDeps } from '../files/data-plane-deps.ts';
import { openFileRange, resolveFile, type FileSelector } from '../files/read-file.ts';
import { authorizeWrite, DEFAULT_MEDIA_TYPE, writeAuthorizedFile } from '../files/write-file.ts';
import { fileJson } from './file-json.ts';
import { ifNoneMatchMatches } from '../../core/net/if-none-match.ts';
import { contentLength, expectedDigestHeaders, ifRangeAllows, parseRange } from './headers.ts';
import { acceptBody, header, pump, requestBodySource, respond, respondJson, startResponse, type HttpRequest, type HttpResponse } from './http-io.ts';

/** Handles `PUT /packages/{id}/files/{path}`. */
export async function putFile(
  deps: DataPlaneDeps,
  caller: Caller,
  target: { packageId: string; relativePath: string; replace: boolean },
  req: HttpRequest,
  res: HttpResponse,
  signal: AbortSignal,
): Promise<void> {
  // RFC 9110 §14.5: a PUT with Content-Range is a partial update, which would store a fragment as the
  // whole file; partial uploads go through an upload session (PATCH /uploads/{id}).
  if (header(req, 'content-range') !== undefined) throw new DataPlaneError('bad-request', 'a single-shot PUT takes the whole file and no Content-Range; send parts through an upload session (POST /uploads, then PATCH with Content-Range)');
  const length = contentLength(req);
  if (length !== undefined && length > deps.maxUploadBytes) throw new DataPlaneError('payload-too-large', `uploads are limited to ${deps.maxUploadBytes} bytes`);
  const write = await authorizeWrite(
    deps,
    caller,
    {
      packageId: target.packageId,
      relativePath: target.relativePath,
      mediaType: mediaTypeOf(req),
      replace: target.replace,
      expected: { ...expectedDigestHeaders(req), ...(length === undefined ? {} : { size: length }) },
    },
    signal,
  );
  acceptBody(req, res);
  const file = await writeAuthorizedFile(deps, write, requestBodySource(req, deps.maxUploadBytes), signal);
  respondJson(res, 201, fileJson(file), { location: `/files/${file.fileId}/download` });
}

/** Handles `GET|HEAD` of a file, by id or by path. */
export async function getFile(deps: DataPlaneDeps, caller: Caller, selector: FileSelector, req: HttpRequest, res: HttpResponse, signal: AbortSignal): Promise<void> {
  const resolved = await resolveFile(deps, caller, selector, signal);
  const { file, size } = resolved;
  const etag = `"${digestsOf(file).blake3}"`;
  const headers: OutgoingHttpHeaders = {
    etag,
    'accept-ranges': 'bytes',
    'x-artifact-sha256': digestsOf(file).sha256,
    'x-artifact-blake3': digestsOf(file).blake3,
    // Stored bytes never change under a file id or a (package, path) of a finalized package, but a path
    // of an open package can be replaced: let caches keep it and revalidate with the ETag.
    'cache-control': 'private, no-cache',
  };
  if (ifNoneMatchMatches(header(req, 'if-none-match'), etag)) {
    respond(res, 304, headers);
    return;
  }
  headers['content-type'] = file.mediaType || DEFAULT_MEDIA_TYPE;
  const range = ifRangeAllows(header(req, 'if-range'), etag) ? parseRange(header(req, 'range'), size) : ({ kind: 'full' } as const);
  if (range.kind === 'unsatisfiable') throw new DataPlaneError('range-not-satisfiable', `the range selects no byte of the ${size}-byte file (it starts at or past the end, or asks for an empty suffix)`, { facts: { size } });
  const start = range.kind === 'partial' ? range.start : 0;
  const count = range.kind === 'partial' ? range.end - range.start + 1 : size;
  headers['content-length'] = String(count);
  if (range.kind === 'partial') headers['content-range'] = `bytes ${range.start}-${range.end}/${size}`;
  const status = range.kind === 'partial' ? 206 : 200;
  if (req.method === 'HEAD') {
    respond(res, status, headers);
    return;
  }
  // Open before sending headers, so a missing object is still a clean 5xx problem.
  // pump waits until each chunk is on the socket before asking for the next, so buffers can be reused.
  const bytes = await openFileRange(deps, resolved, { offset: start, length: count }, signal, { reuseBuffers: true });
  startResponse(res, status, headers);
  await pump(bytes, res, signal);
}

function digestsOf(file: File): { blake3: string; sha256: string } {
  return { blake3: file.digests?.blake3 ?? '', sha256: file.digests?.sha256 ?? '' };
}

function mediaTypeOf(req: HttpRequest): string {
  const value = header(req, 'content-type')?.trim();
  if (value === undefined || value === '') return DEFAULT_MEDIA_TYPE;
  // curl -T sends no Content-Type; --data-binary sends a form type that says nothing about the file.
  if (value === 'application/x-www-form-urlencoded') return DEFAULT_MEDIA_TYPE;
  if (value.length > 255 || !/^[\x20-\x7e]+$/.test(value)) throw new DataPlaneError('bad-request', 'Content-Type must be printable ASCII of at most 255 characters');
  return value;
}
