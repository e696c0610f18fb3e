/**
 * Messages between the hash pool (main thread) and `hash-worker.js`. The worker is plain JavaScript (see
 * ADR 0002 for why), so these types are its contract: change both sides together.
 *
 * Ordering: a worker handles one port's messages in order, so for one session `open` precedes every
 * `write`, and `digest` follows the last `write`. Each `write` gets exactly one `written` (or the session
 * gets one `error`); `digest` gets one `digest` (or `error`). `drop` and `exit` get no reply.
 */
import type { AlgorithmName } from './algorithms.ts';

/** Main thread → worker. */
export type ToWorker =
  /** Starts per-session hash state for `algorithms`. */
  | { readonly op: 'open'; readonly session: number; readonly algorithms: readonly AlgorithmName[] }
  /**
   * Hash `bytes`. A SharedArrayBuffer-backed view is read in place (the sender keeps it unchanged until
   * `written`); any other view arrives as the worker's own copy.
   */
  | { readonly op: 'write'; readonly session: number; readonly bytes: Uint8Array }
  /** Finish the session and reply with its digests; the worker forgets the session afterwards. */
  | { readonly op: 'digest'; readonly session: number }
  /** Forget the session without replying (abort); later messages for it are ignored. */
  | { readonly op: 'drop'; readonly session: number }
  /**
   * End the worker thread, between two messages. The pool closes workers this way, not with
   * `Worker#terminate`: a thread stopped from outside while it is inside the blake3 native addon (loading
   * it, creating or feeding a hasher) aborts the whole process (`FATAL ERROR:
   * Error::ThrowAsJavaScriptException napi_throw`).
   */
  | { readonly op: 'exit' };

/** Worker → main thread. */
export type FromWorker =
  /** The worker no longer reads the bytes of the session's oldest unacknowledged `write`. */
  | { readonly op: 'written'; readonly session: number }
  /** Lower-case hex per algorithm the session was opened with, and the number of bytes hashed. */
  | { readonly op: 'digest'; readonly session: number; readonly size: number; readonly hex: Readonly<Partial<Record<AlgorithmName, string>>> }
  /** The session failed inside the worker; the worker has forgotten it. */
  | { readonly op: 'error'; readonly session: number; readonly message: string };
