/**
 * A pool of long-lived hash worker threads shared by concurrent streams.
 *
 * A stream talks to the pool through sessions: a session is hash state for some algorithms kept inside one
 * worker, fed with `write` and finished with `digest`. Many sessions share a worker; one stream may use
 * several sessions on different workers so its algorithms run in parallel (see `dual-hasher.ts`).
 *
 * Lifetime: workers start on first use and stay up. A worker is `unref`'d whenever no reply is awaited from
 * it, so an idle pool never keeps the process alive, while a pending `write` or `digest` does (otherwise a
 * script awaiting a digest at top level would exit mid-hash). A worker that crashes or exits fails every
 * session it served with `worker-failed`; the next session on that slot starts a fresh worker.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { AlgorithmName } from './algorithms.ts';
import { createDeferred, type Deferred } from './deferred.ts';
import { Digest } from './digest.ts';
import { HashError } from './hash-error.ts';
import type { FromWorker, ToWorker } from './hash-protocol.ts';

/** Options for {@link createHashPool}. */
export interface HashPoolOptions {
  /** Number of worker threads, an integer ≥ 1. Default: the available parallelism, at most 8. */
  readonly size?: number;
  /** The worker entry. Default: `hash-worker.js` beside this file. Tests substitute a misbehaving worker. */
  readonly workerUrl?: URL;
}

/** Options for {@link HashPool.open}. */
export interface OpenSessionOptions {
  /**
   * Prefer a worker that none of these sessions use, so one stream's algorithms hash in parallel. Ignored
   * when every worker is in use by them (e.g. a pool of size 1).
   */
  readonly apartFrom?: readonly HashSession[];
}

/** What a session computed. */
export interface SessionResult {
  /** Bytes the worker hashed; always equal to the bytes written (checked before this is returned). */
  readonly size: number;
  /** One digest per algorithm the session was opened with. */
  readonly digests: ReadonlyMap<AlgorithmName, Digest>;
}

/**
 * Hash state for some algorithms inside one worker. Not safe to `write` after `digest`. After any failure
 * (worker crash, pool closed, abort) every call rejects with that same error.
 */
export interface HashSession {
  /** The algorithms this session computes. */
  readonly algorithms: readonly AlgorithmName[];
  /** Index of the worker that hashes this session, in `[0, pool.size)`. */
  readonly worker: number;
  /**
   * Queues `bytes` for hashing, in call order. A view on a SharedArrayBuffer is read in place by the
   * worker: the caller must not modify it until the returned promise resolves. Any other view is copied
   * during the call, so the caller may reuse it at once. Resolves when the worker is done reading.
   */
  write(bytes: Uint8Array): Promise<void>;
  /** Finishes the session after all writes. Calling it again returns the same promise. */
  digest(): Promise<SessionResult>;
  /**
   * Abandons the session and frees its worker state; pending and later calls reject with `aborted`
   * (`cause` = `reason`). Safe to call twice and after `digest`, where it does nothing.
   */
  abort(reason?: unknown): void;
}

/** A set of hash workers shared by concurrent streams. */
export interface HashPool {
  /** Number of worker threads (started lazily). */
  readonly size: number;
  /** Sessions opened and not yet finished, failed or aborted; for tests and metrics. */
  readonly activeSessions: number;
  /**
   * Opens a session on the least-loaded eligible worker, starting it if needed.
   * @throws HashError `pool-closed` after `close()`; `invalid-state` for an empty algorithm list.
   */
  open(algorithms: readonly AlgorithmName[], options?: OpenSessionOptions): HashSession;
  /** Fails open sessions with `pool-closed` and terminates the workers. Idempotent. */
  close(): Promise<void>;
}

/**
 * Relative CPU cost per byte, used to balance sessions across workers. Measured: SHA-256 (SHA-NI) ≈ 1.7 GB/s,
 * BLAKE3 (native, AVX-512) ≈ 7 GB/s on one core. A `Record` so a new algorithm fails to compile until costed.
 */
const ALGORITHM_COST: Record<AlgorithmName, number> = { sha256: 4, blake3: 1 };

const MAX_DEFAULT_SIZE = 8;

interface Slot {
  readonly index: number;
  worker: Worker | undefined;
  /** Sum of ALGORITHM_COST over the slot's open sessions. */
  load: number;
  /** Replies awaited from the worker; the worker is ref'd exactly while this is > 0. */
  pending: number;
  readonly sessions: Set<SessionState>;
}

interface SessionState {
  readonly id: number;
  readonly slot: Slot;
  readonly algorithms: readonly AlgorithmName[];
  readonly cost: number;
  /** Writes awaiting `written`, oldest first (the worker replies in order). */
  readonly writes: Deferred<void>[];
  result: Deferred<SessionResult> | undefined;
  sent: number;
  phase: 'open' | 'digesting' | 'done';
  failure: HashError | undefined;
}

/** Creates a hash pool. Workers start when the first session needs them. */
export function createHashPool(options: HashPoolOptions = {}): HashPool {
  const size = options.size ?? Math.max(1, Math.min(availableParallelism(), MAX_DEFAULT_SIZE));
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`hash pool option "size" must be an integer ≥ 1, got ${String(size)}`);
  const workerUrl = options.workerUrl ?? new URL('./hash-worker.js', import.meta.url);

  const slots: Slot[] = Array.from({ length: size }, (_, index) => ({ index, worker: undefined, load: 0, pending: 0, sessions: new Set() }));
  const sessions = new Map<number, SessionState>();
  let nextId = 1;
  let closing: Promise<void> | undefined;

  function addPending(slot: Slot, delta: number): void {
    const before = slot.pending;
    slot.pending += delta;
    if (before === 0 && slot.pending > 0) slot.worker?.ref();
    else if (before > 0 && slot.pending === 0) slot.worker?.unref();
  }

  function post(slot: Slot, message: ToWorker, transfer?: ArrayBuffer[]): void {
    // A slot without a worker has already failed its sessions, so callers check `failure` first.
    slot.worker?.postMessage(message, transfer);
  }

  /** Ends a session with `error`; `tellWorker` sends `drop` so the worker frees its state. */
  function failSession(state: SessionState, error: HashError, tellWorker: boolean): void {
    if (state.phase === 'done') return;
    const waiting = state.writes.length + (state.phase === 'digesting' ? 1 : 0);
    state.phase = 'done';
    state.failure = error;
    for (const write of state.writes.splice(0)) write.reject(error);
    state.result?.reject(error);
    retire(state, waiting);
    if (tellWorker) post(state.slot, { op: 'drop', session: state.id });
  }

  function retire(state: SessionState, waiting: number): void {
    sessions.delete(state.id);
    state.slot.sessions.delete(state);
    state.slot.load -= state.cost;
    addPending(state.slot, -waiting);
  }

  function onWorkerGone(slot: Slot, worker: Worker, error: HashError): void {
    if (slot.worker !== worker) return; // already handled (error then exit), or closed on purpose
    slot.worker = undefined;
    for (const state of [...slot.sessions]) failSession(state, error, false);
    slot.pending = 0;
  }

  function onReply(slot: Slot, message: FromWorker): void {
    const state = sessions.get(message.session);
    // Replies for sessions that were aborted or failed meanwhile are expected; nobody waits for them.
    if (state === undefined || state.slot !== slot) return;
    switch (message.op) {
      case 'written': {
        const write = state.writes.shift();
        if (write === undefined) return failSession(state, protocolError(slot, 'unexpected "written"'), true);
        addPending(slot, -1);
        write.resolve();
        return;
      }
      case 'digest': {
        const result = state.result;
        if (result === undefined || state.writes.length > 0) return failSession(state, protocolError(slot, 'unexpected "digest"'), true);
        if (message.size !== state.sent) {
          return failSession(state, new HashError('integrity', `hash worker ${slot.index} hashed ${message.size} bytes, ${state.sent} were sent`), false);
        }
        let digests: Map<AlgorithmName, Digest>;
        try {
          digests = new Map(state.algorithms.map((name) => [name, Digest.fromHex(name, message.hex[name] ?? '')]));
        } catch (cause) {
          return failSession(state, protocolError(slot, 'malformed digest', cause), false);
        }
        state.phase = 'done';
        retire(state, 1);
        result.resolve({ size: message.size, digests });
        return;
      }
      case 'error':
        return failSession(state, new HashError('worker-failed', `hash worker ${slot.index}: ${message.message}`), false);
    }
  }

  function spawn(slot: Slot): Worker {
    // execArgv: [] so the worker does not inherit `--import tsx` or test-runner flags: it is plain
    // JavaScript and starts fastest with nothing preloaded.
    const worker = new Worker(workerUrl, { name: `hash-worker-${slot.index}`, execArgv: [] });
    worker.unref();
    worker.on('message', (message: FromWorker) => onReply(slot, message));
    worker.on('error', (cause) => {
      onWorkerGone(slot, worker, new HashError('worker-failed', `hash worker ${slot.index} crashed: ${cause.message}`, { cause }));
    });
    worker.on('messageerror', (cause) => {
      onWorkerGone(slot, worker, new HashError('worker-failed', `hash worker ${slot.index} sent an unreadable message`, { cause }));
      void stopWorker(worker);
    });
    worker.on('exit', (code) => {
      onWorkerGone(slot, worker, new HashError('worker-failed', `hash worker ${slot.index} exited unexpectedly with code ${code}`));
    });
    return worker;
  }

  function pickSlot(avoid: ReadonlySet<number>): Slot {
    const eligible = slots.filter((slot) => !avoid.has(slot.index));
    const candidates = eligible.length > 0 ? eligible : slots;
    let best = candidates[0] as Slot;
    for (const slot of candidates) if (slot.load < best.load) best = slot;
    return best;
  }

  function open(algorithms: readonly AlgorithmName[], openOptions: OpenSessionOptions = {}): HashSession {
    if (closing !== undefined) throw new HashError('pool-closed', 'hash pool is closed');
    if (algorithms.length === 0) throw new HashError('invalid-state', 'a hash session needs at least one algorithm');
    const slot = pickSlot(new Set((openOptions.apartFrom ?? []).map((session) => session.worker)));
    slot.worker ??= spawn(slot);
    const state: SessionState = {
      id: nextId++,
      slot,
      algorithms: [...algorithms],
      cost: algorithms.reduce((sum, name) => sum + ALGORITHM_COST[name], 0),
      writes: [],
      result: undefined,
      sent: 0,
      phase: 'open',
      failure: undefined,
    };
    sessions.set(state.id, state);
    slot.sessions.add(state);
    slot.load += state.cost;
    post(slot, { op: 'open', session: state.id, algorithms: state.algorithms });
    return createSessionHandle(state);
  }

  function createSessionHandle(state: SessionState): HashSession {
    return {
      algorithms: state.algorithms,
      worker: state.slot.index,
      write(bytes) {
        if (state.failure !== undefined) return Promise.reject(state.failure);
        if (state.phase !== 'open') return Promise.reject(new HashError('invalid-state', 'write after digest'));
        const write = createDeferred<void>();
        state.writes.push(write);
        state.sent += bytes.byteLength;
        addPending(state.slot, 1);
        try {
          if (isShared(bytes)) {
            post(state.slot, { op: 'write', session: state.id, bytes });
          } else {
            // Compact copy, then transfer it: cloning a view would copy its whole backing buffer. Not
            // `bytes.slice()`: on a Buffer that is a view, and transferring it would detach the caller's memory.
            const copy = new Uint8Array(bytes);
            post(state.slot, { op: 'write', session: state.id, bytes: copy }, [copy.buffer]);
          }
        } catch (cause) {
          failSession(state, HashError.from(cause), true);
        }
        return write.promise;
      },
      digest() {
        if (state.result !== undefined) return state.result.promise;
        if (state.failure !== undefined) return Promise.reject(state.failure);
        state.result = createDeferred<SessionResult>();
        state.phase = 'digesting';
        addPending(state.slot, 1);
        post(state.slot, { op: 'digest', session: state.id });
        return state.result.promise;
      },
      abort(reason) {
        failSession(state, new HashError('aborted', 'hash session aborted', { cause: reason }), true);
      },
    };
  }

  return {
    size,
    get activeSessions() {
      return sessions.size;
    },
    open,
    close() {
      if (closing !== undefined) return closing;
      const error = new HashError('pool-closed', 'hash pool closed');
      for (const state of [...sessions.values()]) failSession(state, error, false);
      const exits: Promise<number>[] = [];
      for (const slot of slots) {
        const worker = slot.worker;
        slot.worker = undefined; // detach first so the exit event is not reported as a crash
        if (worker !== undefined) exits.push(stopWorker(worker));
      }
      closing = Promise.all(exits).then(() => undefined);
      return closing;
    },
  };
}

/** How long `close` waits for a worker to end itself before terminating it (a hung worker must not hang close). */
const STOP_WAIT_MS = 10_000;

/**
 * Asks `worker` to end itself (`exit`, after the messages already sent) and resolves with its exit code.
 * Not `terminate()` straight away: stopping a thread from outside while it is inside the blake3 addon
 * aborts the process (hash-protocol.ts); seen when a pool was closed right after a session started a
 * worker. A worker that has not ended after {@link STOP_WAIT_MS} is terminated.
 */
function stopWorker(worker: Worker): Promise<number> {
  return new Promise<number>((resolve) => {
    const timer = setTimeout(() => {
      worker.terminate().then(resolve, () => resolve(1));
    }, STOP_WAIT_MS);
    timer.unref();
    worker.once('exit', (code: number) => {
      clearTimeout(timer);
      resolve(code);
    });
    worker.ref(); // an awaited close keeps the process alive until the worker has ended
    worker.postMessage({ op: 'exit' } satisfies ToWorker);
  });
}

function protocolError(slot: Slot, what: string, cause?: unknown): HashError {
  return new HashError('worker-failed', `hash worker ${slot.index} broke protocol: ${what}`, { cause });
}

/** True for views on a SharedArrayBuffer (a worker reads those in place); a tag check, because `instanceof` fails across realms. */
export function isShared(bytes: Uint8Array): boolean {
  return Object.prototype.toString.call(bytes.buffer) === '[object SharedArrayBuffer]';
}
