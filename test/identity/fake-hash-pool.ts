/**
 * An in-process stand-in for a HashPool (the `HashSessionSource` slice the dual hasher uses): writes wait
 * until the test releases them, so tests can hold the window full, fail a write, or lie about the size.
 */
import { createHash as createSha256 } from 'node:crypto';
import { createHash as createBlake3 } from 'blake3';
import type { AlgorithmName } from '../../core/identity/algorithms.ts';
import { createDeferred, type Deferred } from '../../core/identity/deferred.ts';
import { Digest } from '../../core/identity/digest.ts';
import type { HashSessionSource } from '../../core/identity/dual-hasher.ts';
import type { HashSession, OpenSessionOptions } from '../../core/identity/hash-pool.ts';

/** A write the test has not released yet. */
export interface HeldWrite {
  readonly session: FakeSession;
  readonly bytes: Uint8Array;
  readonly shared: boolean;
  readonly done: Deferred<void>;
  /** Hashes the bytes; called on release, while the hasher still keeps the slab untouched. */
  readonly apply: () => void;
}

/** What the fake recorded about one session. */
export interface FakeSession {
  readonly algorithms: readonly AlgorithmName[];
  readonly worker: number;
  readonly apartFrom: readonly number[];
  aborted: boolean;
  written: number;
}

/** Fake pool plus the levers a test pulls. */
export interface FakeHashPool extends HashSessionSource {
  readonly sessions: FakeSession[];
  readonly held: HeldWrite[];
  /** Every write ever made, in order. */
  readonly log: HeldWrite[];
  /** Hashes and resolves the oldest held write (in order, as a worker would). */
  releaseOne(): void;
  /** Releases every held write, including ones that arrive while releasing. */
  releaseAll(): Promise<void>;
  /** Rejects the oldest held write with `error`. */
  failOne(error: unknown): void;
  /** Adds this to every reported size (0 = honest). */
  sizeSkew: number;
  /** When false, writes resolve as soon as they are made. */
  hold: boolean;
  /** `open` throws this once `sessions.length` reaches `openFailsAt.after`. */
  openFailsAt: { readonly after: number; readonly error: unknown } | undefined;
}

/** Creates a fake pool with `size` pretend workers. */
export function createFakeHashPool(size: number): FakeHashPool {
  const held: HeldWrite[] = [];
  const log: HeldWrite[] = [];
  const sessions: FakeSession[] = [];
  let nextWorker = 0;

  const hashInto = (state: { sha: ReturnType<typeof createSha256>; b3: ReturnType<typeof createBlake3> }, bytes: Uint8Array): void => {
    // Copy: blake3's addon must never see a SharedArrayBuffer view (it crashes the process).
    const copy = Uint8Array.from(bytes);
    state.sha.update(copy);
    state.b3.update(copy);
  };

  const fake: FakeHashPool = {
    size,
    sessions,
    held,
    log,
    sizeSkew: 0,
    hold: true,
    openFailsAt: undefined,
    open(algorithms: readonly AlgorithmName[], options: OpenSessionOptions = {}): HashSession {
      if (fake.openFailsAt !== undefined && sessions.length >= fake.openFailsAt.after) throw fake.openFailsAt.error;
      const record: FakeSession = {
        algorithms: [...algorithms],
        worker: nextWorker++ % size,
        apartFrom: (options.apartFrom ?? []).map((s) => s.worker),
        aborted: false,
        written: 0,
      };
      sessions.push(record);
      const state = { sha: createSha256('sha256'), b3: createBlake3() };
      const writes: HeldWrite[] = [];
      return {
        algorithms: record.algorithms,
        worker: record.worker,
        write(bytes) {
          const write: HeldWrite = {
            session: record,
            bytes,
            shared: Object.prototype.toString.call(bytes.buffer) === '[object SharedArrayBuffer]',
            done: createDeferred<void>(),
            apply: () => {
              hashInto(state, bytes);
              record.written += bytes.byteLength;
            },
          };
          writes.push(write);
          log.push(write);
          if (!fake.hold) {
            write.apply();
            write.done.resolve();
          } else {
            held.push(write);
          }
          return write.done.promise;
        },
        async digest() {
          await Promise.all(writes.map((write) => write.done.promise));
          const digests = new Map<AlgorithmName, Digest>();
          if (algorithms.includes('sha256')) digests.set('sha256', Digest.fromBytes('sha256', state.sha.digest()));
          if (algorithms.includes('blake3')) digests.set('blake3', Digest.fromBytes('blake3', state.b3.digest()));
          return { size: record.written + fake.sizeSkew, digests };
        },
        abort() {
          record.aborted = true;
        },
      };
    },
    releaseOne() {
      const write = held.shift();
      if (write === undefined) throw new Error('no held write');
      write.apply();
      write.done.resolve();
    },
    async releaseAll() {
      while (held.length > 0) {
        fake.releaseOne();
        // Let the hasher react (free the slab, copy more bytes, dispatch the next batch).
        await new Promise((resolve) => setImmediate(resolve));
      }
    },
    failOne(error) {
      const write = held.shift();
      if (write === undefined) throw new Error('no held write');
      write.done.reject(error);
    },
  };
  return fake;
}
