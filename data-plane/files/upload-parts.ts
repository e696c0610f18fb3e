/**
 * Where an upload session's bytes wait until the session completes. Data planes keep no state, so each
 * accepted chunk is a part object on the storage backend, and any data plane can continue a session:
 *
 *   <backend root>/
 *   └── uploads/                      staging area of upload sessions (layout version 1)
 *       └── <upload id, lower case>/  one session, e.g. upload_01jd…; the control plane's staging_key
 *           ├── 0000000000000000      a part: the chunk that starts at offset 0
 *           ├── 0000000000001000      the chunk that starts at offset 4096 (offsets zero-padded to
 *           │                         16 decimal digits so keys sort like offsets)
 *           └── declared-size         the file's size as the first Content-Range total declared it
 *                                     (decimal); later chunks must declare the same, and the session
 *                                     completes only at that size
 *
 * A part is written only at the session's current offset, which is the end of the contiguous run of
 * parts from 0, so parts never overlap; a part key once committed is never rewritten (two writers of
 * the same offset: one commit wins, the other sees `created: false` and reports a conflict).
 */
import { validateKey } from '../storage/keys.ts';
import type { StorageBackend } from '../storage/backend.ts';
import { DataPlaneError } from '../errors/data-plane-error.ts';
import { StorageError } from '../storage/errors.ts';
import { isChunkSource, type ChunkSource } from '../ingest/ingest-object.ts';

/** One stored chunk of a session. */
export interface UploadPart {
  readonly key: string;
  readonly offset: number;
  readonly size: number;
}

const OFFSET_DIGITS = 16;
const PART_NAME = /^\d{16}$/;

/** The staging prefix of a session: the control plane's `staging_key`, else `uploads/<id lower case>`. */
export function stagingPrefix(uploadId: string, stagingKey: string): string {
  return validateKey(stagingKey !== '' ? stagingKey : `uploads/${uploadId.toLowerCase()}`);
}

/** Key, under a session's prefix, of the file size the client declared (not a part: listParts skips it). */
const DECLARED_SIZE = 'declared-size';

/** The file size declared for the session under `prefix`, if any chunk declared one. */
export async function declaredSize(backend: StorageBackend, prefix: string, signal: AbortSignal): Promise<number | undefined> {
  let text = '';
  try {
    for await (const chunk of await backend.get(`${prefix}/${DECLARED_SIZE}`, { signal })) text += Buffer.from(chunk).toString('latin1');
  } catch (error) {
    if (error instanceof StorageError && error.code === 'not-found') return undefined;
    throw error;
  }
  if (!/^\d{1,16}$/.test(text)) throw new DataPlaneError('upload-corrupt', `the upload session's declared size is unreadable (${JSON.stringify(text.slice(0, 20))})`);
  return Number(text);
}

/**
 * Records `size` as the session's declared file size, unless one is recorded already; resolves with
 * the size that holds (the first declared), so the caller can refuse a chunk that declares another.
 */
export async function declareSize(backend: StorageBackend, prefix: string, size: number, signal: AbortSignal): Promise<number> {
  const declared = await declaredSize(backend, prefix, signal);
  if (declared !== undefined) return declared;
  try {
    const [result] = await backend.putObjects([{ key: `${prefix}/${DECLARED_SIZE}`, bytes: Buffer.from(String(size), 'latin1') }], { signal });
    if (result?.created === true) return size;
  } catch (error) {
    // Another chunk declared a size of another length meanwhile (its key exists with other bytes).
    if (!(error instanceof StorageError && error.code === 'integrity')) throw error;
  }
  return (await declaredSize(backend, prefix, signal)) ?? size;
}

/** The key of the part starting at `offset`. */
export function partKey(prefix: string, offset: number): string {
  return `${prefix}/${String(offset).padStart(OFFSET_DIGITS, '0')}`;
}

/** Every part under `prefix`, sorted by offset (sizes from `head`). Foreign keys there are ignored. */
export async function listParts(backend: StorageBackend, prefix: string, signal: AbortSignal): Promise<UploadPart[]> {
  const parts: UploadPart[] = [];
  for await (const key of backend.list(prefix, { signal })) {
    const name = key.slice(prefix.length + 1);
    if (!PART_NAME.test(name)) continue;
    const info = await backend.head(key, { signal });
    // Deleted between list and head: an abort or complete is running; it is not ours to count.
    if (info !== undefined) parts.push({ key, offset: Number(name), size: info.size });
  }
  return parts.sort((a, b) => a.offset - b.offset);
}

/**
 * The session's offset: the end of the contiguous run of parts from 0. Parts after a gap cannot be
 * written through this module; if any exist they are ignored here and refused by `requireContiguous`.
 */
export function contiguousOffset(parts: readonly UploadPart[]): number {
  let offset = 0;
  for (const part of parts) {
    if (part.offset !== offset) break;
    offset += part.size;
  }
  return offset;
}

/** Throws `upload-corrupt` unless `parts` run from 0 without gap or overlap. */
export function requireContiguous(parts: readonly UploadPart[]): number {
  const offset = contiguousOffset(parts);
  const total = parts.reduce((sum, p) => sum + p.size, 0);
  if (total !== offset) throw new DataPlaneError('upload-corrupt', 'the upload session has parts that are not contiguous');
  return offset;
}

/**
 * Stores `source` as the part at `offset` and resolves with its size. With `length`, exactly that many
 * bytes are required; without, at most `maxBytes`. An empty part is not stored (resolves 0). Nothing is
 * left behind on failure. Rejects with `conflict` when a part at that offset appeared meanwhile.
 */
export async function writePart(
  backend: StorageBackend,
  prefix: string,
  offset: number,
  size: { readonly length: number | undefined; readonly maxBytes: number },
  source: ChunkSource | AsyncIterable<Uint8Array>,
  signal: AbortSignal,
): Promise<number> {
  const { length, maxBytes } = size;
  const writer = await backend.createWriter({ signal });
  try {
    let received = 0;
    const take = (chunk: Uint8Array): Promise<void> => {
      received += chunk.byteLength;
      if (length !== undefined && received > length) throw new DataPlaneError('invalid-content-range', `the body is longer than the ${length} bytes Content-Range declares`);
      if (received > maxBytes) throw new DataPlaneError('payload-too-large', `the upload exceeds the limit of ${offset + maxBytes} bytes`);
      return writer.write(chunk);
    };
    if (isChunkSource(source)) await source.pipe(take);
    else for await (const chunk of source) await take(chunk);
    if (length !== undefined && received !== length) throw new DataPlaneError('incomplete-body', `received ${received} of the ${length} bytes Content-Range declares`);
    if (received === 0) return 0;
    const conflict = (): DataPlaneError => new DataPlaneError('conflict', `another request stored the chunk at offset ${offset} concurrently; query the offset and resume`);
    let created: boolean;
    try {
      ({ created } = await writer.commit(partKey(prefix, offset), { signal }));
    } catch (error) {
      // Part keys are offsets, not content addresses: another size there is another request's chunk.
      if (error instanceof StorageError && error.code === 'integrity') throw conflict();
      throw error;
    }
    if (!created) throw conflict();
    return received;
  } finally {
    await writer.cancel();
  }
}

/** The bytes of `parts`, in order, streamed part by part. */
export async function* readParts(backend: StorageBackend, parts: readonly UploadPart[], signal: AbortSignal): AsyncGenerator<Uint8Array> {
  for (const part of parts) {
    for await (const chunk of await backend.get(part.key, { signal })) yield chunk;
  }
}

/** Deletes every part under `prefix` (idempotent); resolves with how many keys it deleted. */
export async function deleteParts(backend: StorageBackend, prefix: string, signal: AbortSignal): Promise<number> {
  const keys: string[] = [];
  for await (const key of backend.list(prefix, { signal })) keys.push(key);
  await Promise.all(keys.map((key) => backend.delete(key, { signal })));
  return keys.length;
}
