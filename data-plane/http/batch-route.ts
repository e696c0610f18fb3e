/**
 * Batch upload: `POST /packages/{id}/files[?replace=true]` with `Content-Type: application/x-tar` and a
 * tar archive as the body (ustar or pax, e.g. `tar -cf - -C dir . | curl -T - -X POST ...`). Every
 * regular-file entry becomes a file of the package at its archive path (a leading `./`, or `.//`, dropped);
 * directory entries are skipped; any other entry (symlink, hard link, device, FIFO) refuses the whole
 * batch with `invalid-archive`, as does a malformed archive. Optional pax records per entry:
 * `ARTIFACTSTORE.media_type`, and `ARTIFACTSTORE.sha256` / `ARTIFACTSTORE.blake3` (checked like the
 * single-shot upload's `X-Artifact-*` headers). At most `MAX_BATCH_FILES` files; all recorded in one
 * transaction or none. 201 with `{"files": [<file JSON>...]}` in archive order.
 *
 * The archive's declared sizes are not trusted: each entry's bytes are counted and hashed as they are
 * stored, and the paths go through the same validation as every other upload.
 */
import tar from 'tar-stream';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CodedError } from '../../core/errors/coded-error.ts';
import { DataPlaneError } from '../errors/data-plane-error.ts';
import type { Caller, DataPlaneDeps } from '../files/data-plane-deps.ts';
import { writeBatch, type BatchEntry } from '../files/write-batch.ts';
import { fileJson } from './file-json.ts';
import { acceptBody, header, respondJson, type HttpRequest, type HttpResponse } from './http-io.ts';

/** Media types accepted for the archive body. */
const TAR_TYPES = new Set(['application/x-tar', 'application/tar']);

/** Handles `POST /packages/{id}/files`. */
export async function postBatch(deps: DataPlaneDeps, caller: Caller, target: { packageId: string; replace: boolean }, req: HttpRequest, res: HttpResponse, signal: AbortSignal): Promise<void> {
  const type = (header(req, 'content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (!TAR_TYPES.has(type)) throw new DataPlaneError('bad-request', `a batch upload is a tar archive: send Content-Type: application/x-tar (got ${JSON.stringify(type)})`);
  acceptBody(req, res);
  const extract = tar.extract();
  const body = { bytes: 0 };
  const counted = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      body.bytes += chunk.byteLength;
      done(null, chunk);
    },
  });
  const feeding = pipeline(req, counted, extract).catch((error: unknown) => {
    extract.destroy(error instanceof Error ? error : new Error(String(error)));
  });
  try {
    const files = await writeBatch(deps, caller, target, entriesOf(extract, body), signal);
    respondJson(res, 201, { files: files.map(fileJson) });
  } finally {
    extract.destroy();
    req.resume();
    await feeding;
  }
}

/** Bytes of the header block and the 512-byte blocks of an entry's data. */
function entryBlocks(size: number): number {
  return 512 + Math.ceil(size / 512) * 512;
}

/**
 * The entries of the archive, then a check of its end. tar-stream skips zero blocks and ends quietly
 * when the input ends on an entry boundary, so an archive cut short there (a producer's `tar` dying
 * mid-way, its pipe ending the request normally) would read as whole. A whole archive ends with two
 * zero blocks (POSIX ustar): what follows the last entry must be at least 1024 bytes, which the parser
 * has already read as zero blocks (anything else after it is an entry or an error).
 */
async function* entriesOf(extract: tar.Extract, body: { readonly bytes: number }): AsyncGenerator<BatchEntry> {
  let end = 0; // where the last entry's data blocks end
  try {
    for await (const entry of extract) {
      const h = entry.header;
      end = (entry as unknown as { offset: number }).offset + entryBlocks(h.size ?? 0);
      if (h.type === 'directory') {
        entry.resume();
        continue;
      }
      if (h.type !== 'file' && h.type !== 'contiguous-file') {
        throw new DataPlaneError('invalid-archive', `entry ${JSON.stringify(h.name)} is a ${h.type ?? 'unknown entry'}; a batch holds regular files and directories only`);
      }
      const pax = (h as { pax?: Record<string, string> }).pax ?? {};
      const expected: { size?: number; sha256?: string; blake3?: string } = {};
      if (h.size !== undefined) expected.size = h.size;
      if (pax['ARTIFACTSTORE.sha256'] !== undefined) expected.sha256 = pax['ARTIFACTSTORE.sha256'];
      if (pax['ARTIFACTSTORE.blake3'] !== undefined) expected.blake3 = pax['ARTIFACTSTORE.blake3'];
      yield { relativePath: h.name.replace(/^(\.\/+)+/, ''), mediaType: pax['ARTIFACTSTORE.media_type'] ?? '', expected, body: archiveErrors(entry) };
      // A consumer that stopped early must not stall the archive.
      entry.resume();
    }
    if (body.bytes - end < 1024) {
      throw new DataPlaneError('invalid-archive', `the tar archive ends without its end-of-archive marker (two zero blocks) after ${body.bytes} bytes: it was cut short, so none of its files were recorded`);
    }
  } catch (error) {
    throw asArchiveError(error);
  }
}

/** An entry's bytes; a failure of the archive stream while reading them is `invalid-archive`. */
async function* archiveErrors(entry: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  try {
    yield* entry;
  } catch (error) {
    throw asArchiveError(error);
  }
}

function asArchiveError(error: unknown): unknown {
  if (error instanceof CodedError) return error;
  return new DataPlaneError('invalid-archive', `the tar archive is malformed or ended early: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
}
