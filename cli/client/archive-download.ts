/**
 * Many small files in one request: `POST /packages/{id}/archive` on a data plane with the paths wanted
 * answers a tar archive of exactly those files, in that order. Each entry must be the file asked for
 * next, with the registry's size, SHA-256 and BLAKE3 (the archive's own claims are not trusted); each is
 * written to a temporary file and renamed into place (`place-file.ts`) only once it checked out. A transfer that ends
 * early (the server breaks it when it cannot finish) fails the batch.
 */
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { blake3Hex } from '../../core/identity/blake3-oneshot.ts';
import { placeBytes } from './place-file.ts';
import { checkReceived, downloadFile, failure, send, TransferError, type FileJson } from './byte-transfer.ts';

/** One file of a batch and where it goes. */
export interface ArchiveTarget {
  readonly file: FileJson;
  readonly target: string;
}

/** Options of {@link downloadArchive}. */
export interface ArchiveDownloadOptions {
  readonly headers: Record<string, string>;
  /** Called after each file is in place. */
  readonly onFile?: (file: FileJson) => void;
  /** Directories known to exist (shared across batches: one `mkdir` per directory, not per file). */
  readonly directories?: Set<string>;
  /** Aborts the transfer (the download then fails; files already placed stay, none is half-written). */
  readonly signal?: AbortSignal | undefined;
}

/**
 * Downloads `batch` into place through one archive read, or file by file from a data plane older than
 * archive reads (it answers `404 route-not-found`).
 */
export async function downloadBatch(dataPlaneUrl: string, packageId: string, batch: readonly ArchiveTarget[], options: ArchiveDownloadOptions): Promise<void> {
  try {
    await downloadArchive(dataPlaneUrl, packageId, batch, options);
  } catch (error) {
    if (!(error instanceof TransferError && (error.code === 'route-not-found' || error.status === 405))) throw error;
    for (const { file, target } of batch) {
      await downloadFile(dataPlaneUrl, file, target, options.headers, options.signal);
      options.onFile?.(file);
    }
  }
}

/** Downloads `batch` (small files of one package: each is held in memory once) into place. */
export async function downloadArchive(dataPlaneUrl: string, packageId: string, batch: readonly ArchiveTarget[], options: ArchiveDownloadOptions): Promise<void> {
  const body = Buffer.from(JSON.stringify({ relative_paths: batch.map((b) => b.file.relative_path) }), 'utf8');
  const url = new URL(`${dataPlaneUrl}/packages/${encodeURIComponent(packageId)}/archive`);
  const res = await send(url, 'POST', { ...options.headers, 'content-type': 'application/json', 'content-length': body.byteLength }, Readable.from([body]), options.signal);
  if (res.statusCode !== 200) throw await failure(res, `download of ${batch.length} files`);
  const extract = tar.extract();
  const feeding = pipeline(res, extract).catch((error: unknown) => {
    extract.destroy(error instanceof Error ? error : new Error(String(error)));
  });
  const directories = options.directories ?? new Set<string>();
  let index = 0;
  let placing = false;
  try {
    for await (const entry of extract) {
      const expected = batch[index];
      const name = entry.header.name;
      if (expected === undefined || entry.header.type !== 'file' || name !== expected.file.relative_path) {
        throw new TransferError(0, 'archive-mismatch', `archive entry ${index + 1} is ${JSON.stringify(name)} (${entry.header.type ?? '?'}), expected ${expected === undefined ? 'the end' : JSON.stringify(expected.file.relative_path)}`);
      }
      // Before reading it: an entry is held in memory whole, so one larger than the file asked for is refused unread.
      if (entry.header.size !== Number(expected.file.digests.size ?? 0)) {
        throw new TransferError(0, 'archive-mismatch', `archive entry ${JSON.stringify(name)} holds ${entry.header.size ?? '?'} bytes, expected ${expected.file.digests.size ?? 0}`);
      }
      const chunks: Buffer[] = [];
      for await (const chunk of entry) chunks.push(chunk);
      placing = true;
      place(expected, Buffer.concat(chunks), directories);
      placing = false;
      options.onFile?.(expected.file);
      index += 1;
    }
  } catch (error) {
    // A file that did not check out, or could not be placed (EACCES, ENOSPC...): reported as it is.
    if (placing || error instanceof TransferError || !(error instanceof Error)) throw error;
    // The connection broke, or the data plane broke off an archive it could not finish (a stored copy it
    // cannot read) with a block tar refuses: either way the archive is not whole.
    throw new TransferError(
      0,
      'archive-broken',
      `the archive of ${batch.length} files broke off after ${index} of them (${error.message}): the connection failed, or the data plane could not read a stored copy (its log says which; artifactstore storage verify checks every copy). The ${index} files checked and placed stay; run the pull again to fetch the rest (files already in place are kept)`,
    );
  } finally {
    extract.destroy();
    await feeding;
  }
  if (index !== batch.length) throw new TransferError(0, 'archive-mismatch', `the archive ended after ${index} of ${batch.length} files`);
}

/**
 * Checks `bytes` against the registry's digests, then writes them to the target through a temporary
 * file, synchronously (small files: see `placeBytes`).
 */
function place(expected: ArchiveTarget, bytes: Buffer, directories: Set<string>): void {
  const { file, target } = expected;
  checkReceived(file, { size: bytes.byteLength, sha256: `sha256:${createHash('sha256').update(bytes).digest('hex')}`, blake3: `blake3:${blake3Hex(bytes)}` });
  const directory = dirname(target);
  if (!directories.has(directory)) {
    mkdirSync(directory, { recursive: true });
    directories.add(directory);
  }
  placeBytes(target, bytes);
}

