/**
 * BLAKE3 of bytes held whole in memory, by whichever of the `blake3` project's two builds is faster for
 * their size (ADR 0020). Both builds are the same project's bindings of the same C code, and give the
 * same digest (`test/identity/blake3-vectors.test.ts` checks both against the official vectors, on both
 * sides of the threshold).
 *
 * - **Small inputs: the WebAssembly build (`blake3-wasm`).** The native addon allocates a ~2 KB hasher
 *   object per call, freed only by a garbage-collector finalizer: 12-15 µs per call here whatever the
 *   length, most of it malloc and first-touch page faults, and more inside a busy process. The WebAssembly
 *   build hashes in a scratch area of its own memory: 2.6 µs for 1 KiB, 3.5 µs for 4 KiB.
 * - **Larger inputs: the native addon**, whose SIMD code overtakes the per-call cost above 16 KiB (32 KiB:
 *   15 µs native against 23 µs WebAssembly; 128 KiB: 27 against 85).
 *
 * Streams keep using the native addon's incremental hasher, in the hash workers (`hash-worker.js`).
 */
import { hash as nativeHash } from 'blake3';
import { hash as wasmHash, load as loadWasm } from 'blake3-wasm';

/** Inputs up to this many bytes are hashed by the WebAssembly build; longer ones by the native addon. */
export const WASM_MAX_BYTES = 16 * 1024;

/** Where the process keeps its one load of the WebAssembly module (a test runner may evaluate this file again). */
const LOADED = Symbol.for('artifact-store.blake3-wasm.loaded');

/**
 * Compiles the WebAssembly module. Its Emscripten glue adds a listener for `uncaughtException` and one
 * for `unhandledRejection` that rethrow, which would change how every process of ours ends on an
 * uncaught error (exit code 7 instead of 1, a rejection no longer wrapped in ERR_UNHANDLED_REJECTION):
 * the listeners the load added are removed again.
 */
async function loadWasmOnce(): Promise<void> {
  const uncaught = new Set(process.listeners('uncaughtException'));
  const unhandled = new Set(process.listeners('unhandledRejection'));
  try {
    await loadWasm();
  } finally {
    for (const listener of process.listeners('uncaughtException')) if (!uncaught.has(listener)) process.off('uncaughtException', listener);
    for (const listener of process.listeners('unhandledRejection')) if (!unhandled.has(listener)) process.off('unhandledRejection', listener);
  }
}

// Once per process, when this module is first imported (a few milliseconds). Loading again would give
// the package a second module instance while its scratch area still points into the first one's memory.
const holder = globalThis as { [LOADED]?: Promise<void> };
holder[LOADED] ??= loadWasmOnce();
await holder[LOADED];

/** The 32-byte BLAKE3 digest of `bytes`, in a Buffer of its own (never a view of WebAssembly memory). */
export function blake3OneShot(bytes: Uint8Array): Buffer {
  return bytes.byteLength <= WASM_MAX_BYTES ? wasmHash(bytes) : nativeHash(bytes);
}

/** The BLAKE3 digest of `bytes` in lowercase hex. */
export function blake3Hex(bytes: Uint8Array): string {
  return blake3OneShot(bytes).toString('hex');
}
