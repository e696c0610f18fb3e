/**
 * Writing a batch of files of one package, independent of transport (the HTTP tar route uses it): the
 * caller is authorized with the first entry before any byte is stored, each entry is streamed through
 * `ingestObject` as it arrives, and all of them are recorded at the end with ONE `RecordFiles` call, so
 * the control plane writes one transaction for the batch instead of one per file.
 *
 * Small entries (at most `BUFFERED_ENTRY_BYTES`) are read into memory and ingested in groups (up to
 * `GROUP_FILES` files or `GROUP_BYTES` bytes, one `putObjects` call each, so the backend makes the whole
 * group durable at once), up to `CONCURRENT_GROUPS` groups at a time while the next entries are read;
 * larger ones stream straight to storage, one at a time. Memory stays bounded by the groups in flight.
 *
 * Recording is all or nothing: when an entry is refused (bad path, digest mismatch, path taken...) no
 * file of the batch is recorded. Objects already committed for earlier entries stay as verified,
 * unreferenced content (as with a single upload whose RecordFile fails), for the garbage collector.
 */
import type { File } from '../../gen/artifactstore/v1/package_pb.ts';
import { normalizeRelativePath } from '../../core/paths/relative-path.ts';
import { ingestObject, ingestObjects, type InMemoryObject, type IngestExpectations, type IngestResult } from '../ingest/ingest-object.ts';
import { DataPlaneError } from '../errors/data-plane-error.ts';
import { backendById, withBackend } from './backend-choice.ts';
import type { Caller, DataPlaneDeps } from './data-plane-deps.ts';
import { authorizeWrite, DEFAULT_MEDIA_TYPE, requireOwnBackend } from './write-file.ts';

/** Most files in one batch (the control plane's limit for one RecordFiles call). */
export const MAX_BATCH_FILES = 1000;
/** Entries up to this size are buffered and ingested in groups. */
export const BUFFERED_ENTRY_BYTES = 1024 * 1024;
/** Most files in one group. */
export const GROUP_FILES = 64;
/** A group is sent once it holds this many bytes. */
export const GROUP_BYTES = 4 * 1024 * 1024;
/** Groups being ingested at once. */
export const CONCURRENT_GROUPS = 4;

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
  let group: InMemoryObject[] = [];
  let groupBytes = 0;
  /** Ingests the buffered group (waiting while `CONCURRENT_GROUPS` are in flight); one result per entry. */
  const sendGroup = async (): Promise<void> => {
    if (group.length === 0) return;
    const objects = group;
    group = [];
    groupBytes = 0;
    while (running.size >= CONCURRENT_GROUPS) await Promise.race(running);
    if (failure !== undefined) throw failure.error;
    const ingest = ingestObjects(objects, targetDeps, { maxBytes: deps.maxUploadBytes, signal: local.signal });
    objects.forEach((_, index) => {
      const one = ingest.then((results) => results[index] as IngestResult);
      // Handled here; the batch reads the outcome through `Promise.all(ingests)` or `failure`.
      one.catch(() => undefined);
      ingests.push(one);
    });
    const tracked: Promise<unknown> = ingest.then(
      () => running.delete(tracked),
      (error: unknown) => {
        running.delete(tracked);
        // Stop at the first refused entry instead of storing the rest of the archive for nothing:
        // the abort also stops an entry streaming meanwhile and the other groups in flight.
        failure ??= { error };
        local.abort(error);
      },
    );
    running.add(tracked);
  };
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
      const size = entry.expected.size;
      if (size !== undefined && size <= BUFFERED_ENTRY_BYTES) {
        group.push({ bytes: await readAll(entry.body, size), expected: entry.expected });
        groupBytes += size;
        if (group.length >= GROUP_FILES || groupBytes >= GROUP_BYTES) await sendGroup();
      } else {
        await sendGroup();
        const ingest = ingestObject(entry.body, targetDeps, { expected: entry.expected, maxBytes: deps.maxUploadBytes, signal: local.signal });
        ingests.push(ingest);
        await ingest;
      }
    }
    await sendGroup();
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
    // A refused group aborts whatever else was running: answer with why it was refused, not the abort.
    throw (failure as { error: unknown } | undefined)?.error ?? error;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

/** Reads a small body whole into one buffer (at most `limit` bytes plus one chunk; ingest checks the exact size). */
async function readAll(body: AsyncIterable<Uint8Array>, limit: number): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of body) {
    // Copied (by concat, or here for a single chunk): a transport may reuse its buffers once the next chunk is asked for.
    chunks.push(chunk);
    total += chunk.byteLength;
    if (total > limit) break;
  }
  if (chunks.length === 1) return Uint8Array.prototype.slice.call(chunks[0] as Uint8Array);
  return Buffer.concat(chunks, total);
}
