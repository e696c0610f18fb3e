/**
 * Writing a batch of files of one package, independent of transport (the HTTP tar route uses it): the
 * caller is authorized with the first entry before any byte is stored, each entry is streamed through
 * `ingestObject` as it arrives, and all of them are recorded at the end with ONE `RecordFiles` call, so
 * the control plane writes one transaction for the batch instead of one per file.
 *
 * Small entries (at most `BUFFERED_ENTRY_BYTES`) are read into memory and ingested concurrently (up to
 * `CONCURRENT_INGESTS` at once, so their fsyncs overlap) while the next entries are read; larger ones
 * stream straight to storage, one at a time. Memory stays bounded by the product of the two.
 *
 * Recording is all or nothing: when an entry is refused (bad path, digest mismatch, path taken...) no
 * file of the batch is recorded. Objects already committed for earlier entries stay as verified,
 * unreferenced content (as with a single upload whose RecordFile fails), for the garbage collector.
 */
import type { File } from '../../gen/artifactstore/v1/package_pb.ts';
import { normalizeRelativePath } from '../../core/paths/relative-path.ts';
import { ingestObject, type IngestExpectations, type IngestResult } from '../ingest/ingest-object.ts';
import { DataPlaneError } from '../errors/data-plane-error.ts';
import { backendById, withBackend } from './backend-choice.ts';
import type { Caller, DataPlaneDeps } from './data-plane-deps.ts';
import { authorizeWrite, DEFAULT_MEDIA_TYPE, requireOwnBackend } from './write-file.ts';

/** Most files in one batch (the control plane's limit for one RecordFiles call). */
export const MAX_BATCH_FILES = 1000;
/** Entries up to this size are buffered and ingested concurrently. */
export const BUFFERED_ENTRY_BYTES = 1024 * 1024;
/** Buffered entries ingested at once. */
export const CONCURRENT_INGESTS = 16;

/** One file of a batch, as the transport delivers it. Its body must be consumed before the next entry. */
export interface BatchEntry {
  readonly relativePath: string;
  /** Media type; empty means `application/octet-stream`. */
  readonly mediaType: string;
  /** Size the archive declares (checked against the bytes) and digests the client claims. */
  readonly expected: IngestExpectations;
  readonly body: AsyncIterable<Uint8Array>;
}

/** What the batch is about. */
export interface BatchTarget {
  readonly packageId: string;
  readonly replace: boolean;
}

/** Stores and records every entry of `entries`; resolves with the recorded files in order. */
export async function writeBatch(deps: DataPlaneDeps, caller: Caller, target: BatchTarget, entries: AsyncIterable<BatchEntry>, signal: AbortSignal): Promise<File[]> {
  const local = new AbortController();
  const onAbort = (): void => local.abort(signal.reason);
  signal.addEventListener('abort', onAbort, { once: true });
  const ingests: Promise<IngestResult>[] = [];
  const accepted: { relativePath: string; mediaType: string }[] = [];
  const running = new Set<Promise<unknown>>();
  let backendChecked = false;
  let failure: { error: unknown } | undefined;
  // Where the control plane routes this package's files (backend routing); set by the first authorization.
  let targetDeps = deps;
  try {
    for await (const entry of entries) {
      if (failure !== undefined) throw failure.error;
      if (accepted.length >= MAX_BATCH_FILES) throw new DataPlaneError('too-many-files', `a batch holds at most ${MAX_BATCH_FILES} files; split the upload`);
      // Every path is checked here, the same way for every entry, before its bytes are read.
      let relativePath = normalizeRelativePath(entry.relativePath);
      if (!backendChecked) {
        // Gate the whole batch on the caller's right to write this package, before storing a byte.
        const write = await authorizeWrite(deps, caller, { packageId: target.packageId, relativePath, mediaType: entry.mediaType, replace: target.replace, expected: entry.expected }, local.signal);
        relativePath = write.relativePath;
        targetDeps = withBackend(deps, backendById(deps, write.backendId ?? ''));
        backendChecked = true;
      }
      accepted.push({ relativePath, mediaType: entry.mediaType || DEFAULT_MEDIA_TYPE });
      const options = { expected: entry.expected, maxBytes: deps.maxUploadBytes, signal: local.signal };
      const size = entry.expected.size;
      if (size !== undefined && size <= BUFFERED_ENTRY_BYTES) {
        const chunks = await readAll(entry.body, size);
        while (running.size >= CONCURRENT_INGESTS) await Promise.race(running);
        const ingest = ingestObject(chunks, targetDeps, options);
        ingests.push(ingest);
        const tracked: Promise<unknown> = ingest.then(
          () => running.delete(tracked),
          (error: unknown) => {
            running.delete(tracked);
            // Stop at the first refused entry instead of storing the rest of the archive for nothing.
            failure ??= { error };
          },
        );
        running.add(tracked);
      } else {
        const ingest = ingestObject(entry.body, targetDeps, options);
        ingests.push(ingest);
        await ingest;
      }
    }
    if (ingests.length === 0) throw new DataPlaneError('bad-request', 'the archive holds no files');
    const results = await Promise.all(ingests);
    for (const result of results) requireOwnBackend(deps, result.backendId);
    const { files } = await deps.control.recordFiles(
      {
        clientToken: caller.token,
        packageId: target.packageId,
        entries: results.map((result, index) => ({
          relativePath: accepted[index]?.relativePath ?? '',
          mediaType: accepted[index]?.mediaType ?? DEFAULT_MEDIA_TYPE,
          digests: { blake3: result.digests.blake3.toString(), sha256: result.digests.sha256.toString(), size: BigInt(result.digests.size) },
          backendId: result.backendId,
          storageKey: result.storageKey,
          replace: target.replace,
        })),
      },
      { signal },
    );
    return files;
  } catch (error) {
    local.abort(error);
    // Let every ingest in flight settle (each cleans up its own staging) before answering.
    await Promise.allSettled(ingests);
    throw error;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

/** Reads a small body whole (at most `limit` bytes plus one chunk; ingest checks the exact size). */
async function readAll(body: AsyncIterable<Uint8Array>, limit: number): Promise<Uint8Array[]> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of body) {
    // Copy: a transport may reuse its buffers once the next chunk is asked for.
    chunks.push(Uint8Array.prototype.slice.call(chunk));
    total += chunk.byteLength;
    if (total > limit) break;
  }
  return chunks;
}
