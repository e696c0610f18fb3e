/**
 * Plain-HTTP byte transfer to and from a data plane: streamed uploads with Content-Length and a local
 * SHA-256 compared with the server's, and streamed downloads checked against both digests.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { dirname } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { createDualHasher } from './dual-hasher.ts';
import { placeFile } from './place-file.ts';

/** The JSON the data plane returns for a stored file (protobuf JSON, proto field names). */
export interface FileJson {
  readonly file_id: string;
  readonly package_id: string;
  readonly relative_path: string;
  readonly media_type: string;
  /** Protobuf JSON: `size` is a decimal string and omitted when 0. */
  readonly digests: { readonly blake3: string; readonly sha256: string; readonly size?: string };
}

/** A failed transfer, with the server's problem `code` when it sent one. */
export class TransferError extends Error {
  override readonly name = 'TransferError';
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export async function readBody(res: IncomingMessage): Promise<string> {
  const parts: Buffer[] = [];
  for await (const chunk of res) parts.push(chunk as Buffer);
  return Buffer.concat(parts).toString('utf8');
}

export async function failure(res: IncomingMessage, what: string): Promise<TransferError> {
  const text = await readBody(res);
  let code = `http-${res.statusCode ?? 0}`;
  let detail = text.slice(0, 500);
  try {
    const problem = JSON.parse(text) as { code?: string; detail?: string; title?: string };
    code = problem.code ?? code;
    detail = problem.detail ?? problem.title ?? detail;
  } catch {
    // not problem+json
  }
  return new TransferError(res.statusCode ?? 0, code, `${what}: ${res.statusCode ?? '?'} ${code}: ${detail}`);
}

/** Sends one request; `signal` aborts it, its body and its response (the promise or the response stream then fails). */
export function send(url: URL, method: string, headers: Record<string, string | number>, body?: NodeJS.ReadableStream, signal?: AbortSignal): Promise<IncomingMessage> {
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers, ...(signal === undefined ? {} : { signal }) }, resolve);
    req.on('error', reject);
    if (body === undefined) req.end();
    else pipeline(body, req).catch(reject);
  });
}

/**
 * Finds a live data plane by asking the control plane where a byte route lives (it answers 307);
 * returns its base URL.
 */
export async function discoverDataPlane(controlUrl: string, packageId: string, headers: Record<string, string>, signal?: AbortSignal): Promise<string> {
  let res: IncomingMessage;
  try {
    res = await send(new URL(`${controlUrl}/packages/${encodeURIComponent(packageId)}/files/probe`), 'HEAD', headers, undefined, signal);
  } catch (error) {
    if (signal?.aborted === true) throw error;
    throw new TransferError(0, 'unreachable', `cannot reach the control plane at ${controlUrl} (${(error as Error).message}); is it running? (--url, ARTIFACTSTORE_URL)`);
  }
  res.resume();
  const location = res.headers.location;
  if (res.statusCode === 307 && location !== undefined) return new URL(location, controlUrl).origin;
  // A control plane answers 307, or 503 while no data plane is live; anything else is another server.
  const detail =
    res.statusCode === 503
      ? 'no data plane is live; start one (artifactstore data-plane) or wait for it to register'
      : `is ${controlUrl} the control plane? --url and ARTIFACTSTORE_URL take the control plane's URL (port 8000 by default), not a data plane's`;
  throw new TransferError(res.statusCode ?? 0, 'no-data-plane', `the control plane named no data plane (status ${res.statusCode ?? '?'}): ${detail}`);
}

/** The URL path of a file of a package: each segment percent-encoded. */
export function filePath(packageId: string, relativePath: string): string {
  return `/packages/${encodeURIComponent(packageId)}/files/${relativePath.split('/').map(encodeURIComponent).join('/')}`;
}

/** Uploads one local file; verifies the server's SHA-256 and size against what was read. */
export async function uploadFile(dataPlaneUrl: string, packageId: string, relativePath: string, absolutePath: string, size: number, options: { headers: Record<string, string>; mediaType: string; replace?: boolean; signal?: AbortSignal | undefined }): Promise<FileJson> {
  const sha = createHash('sha256');
  let read = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, done) {
      sha.update(chunk);
      read += chunk.length;
      done(null, chunk);
    },
  });
  const url = new URL(`${dataPlaneUrl}${filePath(packageId, relativePath)}${options.replace === true ? '?replace=true' : ''}`);
  const source = createReadStream(absolutePath).pipe(tap);
  const res = await send(url, 'PUT', { ...options.headers, 'content-type': options.mediaType, 'content-length': size }, source, options.signal);
  if (res.statusCode !== 201) throw await failure(res, `upload ${relativePath}`);
  const file = JSON.parse(await readBody(res)) as FileJson;
  const local = `sha256:${sha.digest('hex')}`;
  if (read !== size || file.digests.sha256 !== local || Number(file.digests.size ?? 0) !== size) {
    throw new TransferError(0, 'changed-during-upload', `upload ${relativePath}: the server stored ${file.digests.size ?? 0} bytes with ${file.digests.sha256}, but ${read} bytes with ${local} were read (file changed while uploading?)`);
  }
  return file;
}

/** Throws `integrity` unless what was received has the registry's size and both digests of `file`. */
export function checkReceived(file: FileJson, got: { readonly size: number; readonly sha256: string; readonly blake3: string }): void {
  if (got.size !== Number(file.digests.size ?? 0) || got.sha256 !== file.digests.sha256 || got.blake3 !== file.digests.blake3) {
    throw new TransferError(0, 'integrity', `download ${file.relative_path}: received ${got.size} bytes ${got.blake3}, expected ${file.digests.size ?? 0} bytes ${file.digests.blake3}`);
  }
}

/**
 * Downloads a file to `target` (via a temporary file), checking size and both digests. Aborted by
 * `signal`, it fails and leaves no temporary file behind.
 */
export async function downloadFile(dataPlaneUrl: string, file: FileJson, target: string, headers: Record<string, string>, signal?: AbortSignal): Promise<void> {
  const res = await send(new URL(`${dataPlaneUrl}/files/${encodeURIComponent(file.file_id)}/download`), 'GET', headers, undefined, signal);
  if (res.statusCode !== 200) throw await failure(res, `download ${file.relative_path}`);
  await mkdir(dirname(target), { recursive: true });
  const hasher = createDualHasher();
  const tap = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hasher.update(chunk);
      done(null, chunk);
    },
  });
  await placeFile(target, async (handle) => {
    await pipeline(res, tap, handle.createWriteStream());
    checkReceived(file, hasher.digests());
  });
}
