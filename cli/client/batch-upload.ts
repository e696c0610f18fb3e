/**
 * Many small files in one request: a tar archive streamed to `POST /packages/{id}/files` on a data
 * plane, which stores every entry and records them all in one transaction. Each file is read whole
 * (callers batch only small files), hashed locally, and sent with its SHA-256 and media type as pax
 * records, so the server refuses a file whose bytes differ from what was read; the stored SHA-256
 * and size it returns are compared again.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { failure, readBody, TransferError, type FileJson } from './byte-transfer.ts';
import { coalesceChunks } from './coalesce-chunks.ts';

/** One file of a batch. */
export interface BatchFile {
  readonly relativePath: string;
  readonly absolutePath: string;
  readonly mediaType: string;
}

/** Uploads `files` as one batch; resolves with the stored files in the same order. */
export async function uploadBatch(dataPlaneUrl: string, packageId: string, files: readonly BatchFile[], options: { headers: Record<string, string>; replace?: boolean; signal?: AbortSignal | undefined }): Promise<FileJson[]> {
  const url = new URL(`${dataPlaneUrl}/packages/${encodeURIComponent(packageId)}/files${options.replace === true ? '?replace=true' : ''}`);
  const pack = tar.pack();
  const sent: { sha256: string; size: number }[] = [];
  const response = post(url, { ...options.headers, 'content-type': 'application/x-tar', 'transfer-encoding': 'chunked' }, pack, coalesceChunks(), options.signal);
  // Feed the archive; a failed request destroys the pack, which ends this loop with its error.
  const feeding = (async () => {
    for (const file of files) {
      // Synchronous on purpose: small files (batches hold files up to 1 MiB), read by a CLI, where a
      // promise per read costs more than the read itself.
      const bytes = readFileSync(file.absolutePath);
      const sha256 = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
      sent.push({ sha256, size: bytes.byteLength });
      await new Promise<void>((resolve, reject) => {
        pack.entry({ name: file.relativePath, size: bytes.byteLength, type: 'file', mode: 0o644, pax: { 'ARTIFACTSTORE.sha256': sha256, 'ARTIFACTSTORE.media_type': file.mediaType } } as tar.Headers, bytes, (error) => (error ? reject(error) : resolve()));
      });
    }
    pack.finalize();
  })();
  feeding.catch(() => pack.destroy());
  const res = await response;
  if (res.statusCode !== 201) {
    // Read the problem document first: destroying the archive stream aborts the request, and with it
    // a response body still on its way (its stable code would be lost).
    const error = await failure(res, `upload of ${files.length} files`);
    pack.destroy();
    await feeding.catch(() => undefined);
    throw error;
  }
  await feeding;
  const body = JSON.parse(await readBody(res)) as { files?: FileJson[] };
  const stored = body.files ?? [];
  if (stored.length !== files.length) throw new TransferError(0, 'batch-mismatch', `the data plane recorded ${stored.length} files of a batch of ${files.length}`);
  stored.forEach((file, i) => {
    const local = sent[i];
    if (local === undefined || file.digests.sha256 !== local.sha256 || Number(file.digests.size ?? 0) !== local.size) {
      throw new TransferError(0, 'changed-during-upload', `upload ${files[i]?.relativePath ?? '?'}: the server stored ${file.digests.size ?? 0} bytes with ${file.digests.sha256}, but ${local?.size ?? '?'} bytes with ${local?.sha256 ?? '?'} were sent`);
    }
  });
  return stored;
}

/** Sends `body` through `gather` (few large writes, see `coalesce-chunks.ts`) as the request body. */
function post(url: URL, headers: Record<string, string>, body: NodeJS.ReadableStream, gather: Transform, signal: AbortSignal | undefined): Promise<IncomingMessage> {
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers, ...(signal === undefined ? {} : { signal }) }, resolve);
    req.on('error', reject);
    pipeline(body, gather, req).catch(reject);
  });
}
