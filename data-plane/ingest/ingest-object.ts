/**
 * Ingest one byte stream: stage it on a backend while both digests are computed in the same pass,
 * check the size and whatever digests the client said to expect, and only then commit it under its
 * BLAKE3 content key. Any failure (bad digest, wrong size, too large, abort, storage or worker error)
 * cancels the staged write, so nothing unverified is ever visible. A commit onto an existing object
 * counts as success (same key, same bytes) with `created: false`; an existing object of another size
 * is a damaged copy, which the verified bytes replace (`repaired: true`).
 */
import { Digest, type DualDigest } from '../../core/identity/digest.ts';
import { createDualHasher, DEFAULT_INLINE_BYTES, digestInline, type HashSessionSource } from '../../core/identity/dual-hasher.ts';
import type { StorageBackend } from '../storage/backend.ts';
import { throwIfAborted } from '../storage/errors.ts';
import { contentKey } from '../storage/keys.ts';
import { createBlockFeed } from './block-feed.ts';
import { IngestError } from './ingest-error.ts';

/** What the client claims about the bytes; each given value is checked, none is trusted. */
export interface IngestExpectations {
  readonly size?: number;
  /** `blake3:<hex>` */
  readonly blake3?: string;
  /** `sha256:<hex>` */
  readonly sha256?: string;
}

/**
 * A source that pushes its chunks (a request body in flowing mode), cheaper per chunk than an async
 * iterator: `pipe` calls `sink` with each chunk in order and delivers no further chunk while a promise
 * `sink` returned is pending. It resolves after the last chunk, and rejects with the source's failure or
 * with what `sink` threw or rejected with, after which it delivers nothing more.
 */
export interface ChunkSource {
  pipe(sink: (chunk: Uint8Array) => Promise<void> | undefined): Promise<void>;
}

/** True for a {@link ChunkSource} (not an async iterable). */
export function isChunkSource(source: unknown): source is ChunkSource {
  return typeof (source as Partial<ChunkSource>).pipe === 'function' && !(Symbol.asyncIterator in (source as object));
}

/** Options of {@link ingestObject}. */
export interface IngestOptions {
  readonly expected?: IngestExpectations;
  /** Refuse streams longer than this many bytes (checked while streaming). */
  readonly maxBytes?: number;
  readonly signal?: AbortSignal;
}

/** Where the verified bytes now live. */
export interface IngestResult {
  readonly digests: DualDigest;
  readonly backendId: string;
  /** The content key (`blake3/<hh>/<hh>/<hex>`). */
  readonly storageKey: string;
  /** False when identical content was already stored. */
  readonly created: boolean;
  /**
   * True when a damaged copy (another size) was stored under the content key and these verified bytes
   * replaced it (`CommitOptions.replaceDamaged`).
   */
  readonly repaired?: true;
}

/** The parts ingest needs. */
export interface IngestDependencies {
  readonly backend: StorageBackend;
  readonly hashPool: HashSessionSource;
  /** Where a repaired damaged copy is reported (the data plane's log). */
  readonly log?: (line: string) => void;
}

/** Says that verified bytes replaced a damaged stored copy; its location stays failed until `storage verify` reads it again. */
function reportRepair(deps: IngestDependencies, storageKey: string): { repaired: true } {
  deps.log?.(`storage: replaced a damaged copy (another size) of ${storageKey} on backend ${deps.backend.id} with uploaded bytes that match its digests; run artifactstore storage verify to record it`);
  return { repaired: true };
}

function parseExpected(expected: IngestExpectations | undefined): { size?: number; blake3?: Digest; sha256?: Digest } {
  if (expected === undefined) return {};
  const out: { size?: number; blake3?: Digest; sha256?: Digest } = {};
  if (expected.size !== undefined) {
    if (!Number.isSafeInteger(expected.size) || expected.size < 0) throw new IngestError('invalid-expectation', 'expected size must be a non-negative integer');
    out.size = expected.size;
  }
  for (const algorithm of ['blake3', 'sha256'] as const) {
    const text = expected[algorithm];
    if (text === undefined) continue;
    let digest: Digest;
    try {
      digest = Digest.parse(text);
    } catch (err) {
      throw new IngestError('invalid-expectation', `expected ${algorithm}: ${(err as Error).message}`);
    }
    if (digest.algorithm !== algorithm) throw new IngestError('invalid-expectation', `expected ${algorithm} digest, got ${digest.algorithm}`);
    out[algorithm] = digest;
  }
  return out;
}

/** Streams `source` into `deps.backend`; see the file comment for the guarantees. */
export async function ingestObject(source: ChunkSource | AsyncIterable<Uint8Array> | Iterable<Uint8Array>, deps: IngestDependencies, options: IngestOptions = {}): Promise<IngestResult> {
  const expected = parseExpected(options.expected);
  const limit = Math.min(options.maxBytes ?? Number.MAX_SAFE_INTEGER, expected.size ?? Number.MAX_SAFE_INTEGER);
  const { signal } = options;
  throwIfAborted(signal);
  const writer = await deps.backend.createWriter(signal === undefined ? {} : { signal });
  const hasher = createDualHasher(deps.hashPool);
  // Each block goes to the hasher (read in place by the workers) and the writer (written as it is, on the
  // local backend) at once; both are done with it when their promises resolve.
  const consume = async (bytes: Uint8Array): Promise<void> => {
    await Promise.all([hasher.update(bytes), writer.write(bytes)]);
  };
  const feed = createBlockFeed(consume);
  try {
    let total = 0;
    const take = (chunk: Uint8Array): void => {
      throwIfAborted(signal);
      total += chunk.byteLength;
      if (total > limit) {
        throw expected.size !== undefined && limit === expected.size
          ? new IngestError('size-mismatch', `received more than the expected ${expected.size} bytes`)
          : new IngestError('too-large', `stream exceeds the limit of ${options.maxBytes} bytes`);
      }
    };
    if (isChunkSource(source)) {
      await source.pipe((chunk) => {
        take(chunk);
        return feed.write(chunk);
      });
      await feed.end();
    } else if (Symbol.asyncIterator in source) {
      for await (const chunk of source) {
        take(chunk);
        await feed.push(chunk);
      }
      await feed.end();
    } else {
      // In-memory sources (a batch's small files, already read whole): nothing to gather.
      for (const chunk of source) {
        take(chunk);
        await consume(chunk);
      }
    }
    const digests = await hasher.digest();
    // Every byte taken was hashed (a source that ended before its last chunk was handed over whole would
    // otherwise store a shorter object, consistently hashed).
    if (digests.size !== total) throw new IngestError('size-mismatch', `received ${total} bytes but ${digests.size} were hashed`);
    checkAgainst(expected, digests);
    if (writer.size !== digests.size) throw new IngestError('size-mismatch', `storage accepted ${writer.size} bytes but ${digests.size} were hashed`);
    const storageKey = contentKey(digests.blake3);
    // The bytes are verified against both digests: they may replace a damaged copy of the key.
    const committed = await writer.commit(storageKey, { replaceDamaged: true, ...(signal === undefined ? {} : { signal }) });
    return { digests, backendId: deps.backend.id, storageKey, created: committed.created, ...(committed.repaired === true ? reportRepair(deps, storageKey) : {}) };
  } finally {
    hasher.abort();
    try {
      await writer.cancel();
    } finally {
      // After the writer has stopped: no write reads a block any more when the blocks go back to the pool.
      await feed.close();
    }
  }
}

/** Throws when `digests` contradict what the client said to expect. */
function checkAgainst(expected: { size?: number; blake3?: Digest; sha256?: Digest }, digests: DualDigest): void {
  if (expected.size !== undefined && digests.size !== expected.size) throw new IngestError('size-mismatch', `received ${digests.size} bytes, expected ${expected.size}`);
  if (expected.blake3 !== undefined && !expected.blake3.equals(digests.blake3)) throw new IngestError('digest-mismatch', `blake3 of the received bytes is ${digests.blake3.toString()}, expected ${expected.blake3.toString()}`);
  if (expected.sha256 !== undefined && !expected.sha256.equals(digests.sha256)) throw new IngestError('digest-mismatch', `sha256 of the received bytes is ${digests.sha256.toString()}, expected ${expected.sha256.toString()}`);
}

/** One whole object already in memory, and what its client claims about it. */
export interface InMemoryObject {
  readonly bytes: Uint8Array;
  readonly expected?: IngestExpectations;
}

/**
 * Ingests whole objects already in memory (a batch's small files): hashes and checks each exactly as
 * `ingestObject` does, then stores them all with one `putObjects` call, so a backend can make many small
 * objects durable at once. Nothing is stored unless every object passed its checks; the first failure in
 * input order is thrown. When storing fails, objects of the call may have been stored (verified content
 * under its own content key, as after a failed record).
 */
export async function ingestObjects(objects: readonly InMemoryObject[], deps: IngestDependencies, options: Omit<IngestOptions, 'expected'> = {}): Promise<IngestResult[]> {
  const { signal } = options;
  throwIfAborted(signal);
  const verified: { digests: DualDigest; storageKey: string }[] = [];
  for (const object of objects) {
    const expected = parseExpected(object.expected);
    const size = object.bytes.byteLength;
    if (options.maxBytes !== undefined && size > options.maxBytes) throw new IngestError('too-large', `stream exceeds the limit of ${options.maxBytes} bytes`);
    const digests = size <= DEFAULT_INLINE_BYTES ? digestInline(object.bytes) : await digestInWorkers(object.bytes, deps.hashPool);
    checkAgainst(expected, digests);
    verified.push({ digests, storageKey: contentKey(digests.blake3) });
  }
  throwIfAborted(signal);
  const stored = await deps.backend.putObjects(
    objects.map((object, index) => ({ key: verified[index]?.storageKey ?? '', bytes: object.bytes })),
    { replaceDamaged: true, ...(signal === undefined ? {} : { signal }) },
  );
  return verified.map(({ digests, storageKey }, index) => ({ digests, backendId: deps.backend.id, storageKey, created: stored[index]?.created ?? false, ...(stored[index]?.repaired === true ? reportRepair(deps, storageKey) : {}) }));
}

/**
 * Both digests of an object held whole in memory, through the hash workers (objects over
 * `DEFAULT_INLINE_BYTES`; smaller ones are hashed on the calling thread by `digestInline`, as a dual
 * hasher would hash them at `digest`, without building one).
 */
async function digestInWorkers(bytes: Uint8Array, pool: HashSessionSource): Promise<DualDigest> {
  const hasher = createDualHasher(pool);
  try {
    await hasher.update(bytes);
    return await hasher.digest();
  } finally {
    hasher.abort();
  }
}
