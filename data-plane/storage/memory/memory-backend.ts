/**
 * StorageBackend in process memory, for tests of the layers above storage. It follows the same contract
 * suite as the local backend, including its choices where the medium could differ (keys may not nest),
 * so code tested against it behaves the same on disk.
 */
import { putObjectsWithWriters } from '../put-objects.ts';
import { getObjectsWithGet } from '../get-objects.ts';
import type { CommitOptions, CommitResult, GetOptions, SignalOptions, StorageBackend, StorageHealth, StorageObjectInfo, StorageWriter } from '../backend.ts';
import { abortedError, StorageError, throwIfAborted } from '../errors.ts';
import { validateKey } from '../keys.ts';
import { resolveRange, validateRangeOptions } from '../range.ts';

/** Configuration of an in-memory backend. */
export interface MemoryBackendOptions {
  /** Stable name of this backend instance, reported as `StorageBackend.id`. */
  readonly id: string;
}

/** An in-memory StorageBackend plus the introspection tests need. */
export interface MemoryBackend extends StorageBackend {
  /** Writers holding staged bytes: created, and neither committed, cancelled nor failed. */
  stagedCount(): number;
  /** Every committed key, sorted; unlike `list`, a raw view of the map for leftover checks. */
  storedKeys(): string[];
}

// Reads are sliced so callers see bounded chunks, as from a real medium, and cannot tell the backends apart.
const READ_CHUNK_BYTES = 64 * 1024;

/** Creates an empty in-memory backend. */
export function createMemoryBackend(options: MemoryBackendOptions): MemoryBackend {
  const store: MemoryStore = { objects: new Map(), staged: new Set() };

  const backend: MemoryBackend = {
    id: options.id,

    stagedCount: () => store.staged.size,

    storedKeys: () => [...store.objects.keys()].sort(),

    // eslint-disable-next-line @typescript-eslint/require-await -- async so an aborted signal rejects rather than throws.
    async createWriter(writerOptions: SignalOptions = {}): Promise<StorageWriter> {
      throwIfAborted(writerOptions.signal);
      return new MemoryWriter(store, writerOptions.signal);
    },

    putObjects: (objects, putOptions) => putObjectsWithWriters(backend, objects, putOptions),
    getObjects: (objects, getOptions) => getObjectsWithGet(backend, objects, getOptions),

    // eslint-disable-next-line @typescript-eslint/require-await -- async so every failure is a rejection.
    async get(key: string, getOptions: GetOptions = {}): Promise<AsyncIterable<Uint8Array>> {
      validateKey(key);
      validateRangeOptions(getOptions);
      throwIfAborted(getOptions.signal);
      const bytes = store.objects.get(key);
      if (bytes === undefined) throw new StorageError('not-found', `no object stored under ${JSON.stringify(key)}`);
      const { start, end } = resolveRange(bytes.byteLength, getOptions, JSON.stringify(key));
      return readChunks(bytes, start, end, getOptions.signal);
    },

    // eslint-disable-next-line @typescript-eslint/require-await -- async so every failure is a rejection.
    async head(key: string, headOptions: SignalOptions = {}): Promise<StorageObjectInfo | undefined> {
      validateKey(key);
      throwIfAborted(headOptions.signal);
      const bytes = store.objects.get(key);
      return bytes === undefined ? undefined : { size: bytes.byteLength };
    },

    // eslint-disable-next-line @typescript-eslint/require-await -- async so every failure is a rejection.
    async delete(key: string, deleteOptions: SignalOptions = {}): Promise<void> {
      validateKey(key);
      throwIfAborted(deleteOptions.signal);
      store.objects.delete(key);
    },

    list(prefix: string, listOptions: SignalOptions = {}): AsyncIterable<string> {
      return listKeys(store, prefix, listOptions.signal);
    },

    // Nothing goes on after an operation answered.
    settle: () => Promise.resolve(),

    // eslint-disable-next-line @typescript-eslint/require-await -- async so every failure is a rejection.
    async health(healthOptions: SignalOptions = {}): Promise<StorageHealth> {
      throwIfAborted(healthOptions.signal);
      return { ok: true, detail: `memory storage: ${store.objects.size} objects, ${store.staged.size} staged writes` };
    },
  };
  return backend;
}

interface MemoryStore {
  readonly objects: Map<string, Uint8Array>;
  readonly staged: Set<MemoryWriter>;
}

type WriterState = 'open' | 'committed' | 'cancelled' | { readonly failed: StorageError };

class MemoryWriter implements StorageWriter {
  readonly #store: MemoryStore;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort: () => void;
  #chunks: Uint8Array[] = [];
  #size = 0;
  #state: WriterState = 'open';

  constructor(store: MemoryStore, signal: AbortSignal | undefined) {
    this.#store = store;
    this.#signal = signal;
    // Drop the staged bytes as soon as the signal fires, like the local backend removes its staging file.
    this.#onAbort = () => {
      if (signal !== undefined) this.#fail(abortedError(signal));
    };
    signal?.addEventListener('abort', this.#onAbort, { once: true });
    store.staged.add(this);
  }

  get size(): number {
    return this.#size;
  }

  // eslint-disable-next-line @typescript-eslint/require-await -- async so every failure is a rejection.
  async write(chunk: Uint8Array): Promise<void> {
    this.#requireOpen();
    if (chunk.byteLength === 0) return;
    // Copy: the contract lets the caller reuse its buffer once the write has settled. Not `chunk.slice()`:
    // on a Buffer (ingest's blocks are Buffers) that is a view of the caller's memory.
    this.#chunks.push(new Uint8Array(chunk));
    this.#size += chunk.byteLength;
  }

  // eslint-disable-next-line @typescript-eslint/require-await -- async so every failure is a rejection.
  async commit(key: string, options: CommitOptions = {}): Promise<CommitResult> {
    validateKey(key);
    this.#requireOpen();
    if (options.signal?.aborted === true) throw this.#fail(abortedError(options.signal));
    const { objects } = this.#store;
    const stored = objects.get(key);
    if (stored !== undefined) {
      // Same key, same bytes: one of another size is a damaged copy, never "already there".
      if (stored.byteLength !== this.#size) {
        if (options.replaceDamaged !== true) throw this.#fail(new StorageError('integrity', `memory storage: the object already stored under ${JSON.stringify(key)} is ${stored.byteLength} bytes, not ${this.#size}`));
        objects.set(key, concat(this.#chunks, this.#size));
        this.#finish('committed');
        return { created: false, repaired: true };
      }
      this.#finish('committed');
      return { created: false };
    }
    // The local backend cannot hold both `a` and `a/b` (a file is not a directory); refuse it here too.
    if (nestsWithStoredKey(objects, key)) throw new StorageError('invalid-key', `storage key ${JSON.stringify(key)} nests with a stored key`);
    objects.set(key, concat(this.#chunks, this.#size));
    this.#finish('committed');
    return { created: true };
  }

  // eslint-disable-next-line @typescript-eslint/require-await -- async to match the interface; nothing here can fail.
  async cancel(): Promise<void> {
    if (this.#state === 'open') this.#finish('cancelled');
  }

  #fail(error: StorageError): StorageError {
    if (typeof this.#state === 'object') return this.#state.failed;
    if (this.#state === 'open') this.#finish({ failed: error });
    return error;
  }

  #finish(state: Exclude<WriterState, 'open'>): void {
    this.#state = state;
    this.#chunks = [];
    this.#store.staged.delete(this);
    this.#signal?.removeEventListener('abort', this.#onAbort);
  }

  #requireOpen(): void {
    if (this.#state === 'open') return;
    if (this.#state === 'committed') throw new StorageError('failed-precondition', 'storage writer is already committed');
    if (this.#state === 'cancelled') throw new StorageError('failed-precondition', 'storage writer was cancelled');
    throw this.#state.failed;
  }
}

function nestsWithStoredKey(objects: ReadonlyMap<string, Uint8Array>, key: string): boolean {
  const segments = key.split('/');
  for (let depth = 1; depth < segments.length; depth++) {
    if (objects.has(segments.slice(0, depth).join('/'))) return true;
  }
  const below = `${key}/`;
  for (const stored of objects.keys()) if (stored.startsWith(below)) return true;
  return false;
}

function concat(chunks: readonly Uint8Array[], size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

// eslint-disable-next-line @typescript-eslint/require-await -- an async generator is the AsyncIterable the interface returns.
async function* readChunks(bytes: Uint8Array, start: number, end: number, signal: AbortSignal | undefined): AsyncGenerator<Uint8Array> {
  for (let offset = start; offset < end; offset += READ_CHUNK_BYTES) {
    throwIfAborted(signal);
    // Copies, so a caller scribbling on a chunk cannot change the stored object.
    yield bytes.slice(offset, Math.min(end, offset + READ_CHUNK_BYTES));
  }
}

// eslint-disable-next-line @typescript-eslint/require-await -- an async generator is the AsyncIterable the interface returns.
async function* listKeys(store: MemoryStore, prefix: string, signal: AbortSignal | undefined): AsyncGenerator<string> {
  if (prefix !== '') validateKey(prefix);
  throwIfAborted(signal);
  const below = prefix === '' ? '' : `${prefix}/`;
  // Snapshot: commits and deletes during the listing must not disturb the iteration.
  for (const key of [...store.objects.keys()].sort()) {
    throwIfAborted(signal);
    if (key.startsWith(below)) yield key;
  }
}
