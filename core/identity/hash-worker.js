// @ts-check
/**
 * Hash worker entry, started by `hash-pool.ts`. Keeps per-session hash state and hashes the bytes the
 * pool sends; the message contract is `hash-protocol.ts`.
 *
 * Plain JavaScript on purpose (ADR 0002): a worker thread does not inherit the parent's TypeScript
 * loader. On Node 20 a `.ts` entry fails with ERR_UNKNOWN_FILE_EXTENSION even with `--import tsx` in the
 * worker's execArgv, and vitest's transform does not reach worker threads at all. A file Node runs as is
 * works the same under `node --import tsx`, vitest and compiled JavaScript.
 */
import { Buffer } from 'node:buffer';
import { createHash as createSha256 } from 'node:crypto';
import process from 'node:process';
import { parentPort } from 'node:worker_threads';
import { createHash as createBlake3 } from 'blake3';

/** @typedef {import('./hash-protocol.ts').ToWorker} ToWorker */
/** @typedef {import('./hash-protocol.ts').FromWorker} FromWorker */
/** @typedef {{ update(data: Uint8Array): unknown; digest(encoding: 'hex'): string }} Hasher */
/** @typedef {{ hashers: Array<[string, Hasher]>; size: number }} Session */

if (parentPort === null) throw new Error('hash-worker.js must run as a worker thread');
const port = parentPort;

// Bytes are copied into this worker-local buffer piece by piece before hashing, for two reasons:
// 1. blake3's native addon reads `ArrayBuffer::Data()` and crashes the whole process on a
//    SharedArrayBuffer-backed view, so it must only ever see memory this worker owns.
// 2. SHA-256 (SHA-NI) reading memory last written by another core runs at ~1.29 GB/s on this class of
//    machine; a memcpy into a 256 KiB buffer that stays in L2 and hashing from there measured ~1.45 GB/s
//    for copy+hash together (ADR 0002).
const PIECE_BYTES = 256 * 1024;
const scratch = Buffer.allocUnsafe(PIECE_BYTES);

/** @type {Record<string, () => Hasher>} */
const factories = {
  blake3: () => createBlake3(),
  sha256: () => createSha256('sha256'),
};

/** @type {Map<number, Session>} */
const sessions = new Map();

/** @param {FromWorker} message */
function reply(message) {
  port.postMessage(message);
}

/**
 * @param {Session} session
 * @param {Uint8Array} bytes
 */
function hash(session, bytes) {
  for (let offset = 0; offset < bytes.byteLength; offset += PIECE_BYTES) {
    const end = Math.min(bytes.byteLength, offset + PIECE_BYTES);
    // fill(), not set(): from a SharedArrayBuffer V8's set copies with relaxed word stores, fill is memcpy
    // (core/bytes/copy-bytes.ts says why).
    scratch.fill(bytes.subarray(offset, end), 0, end - offset);
    const piece = end - offset === PIECE_BYTES ? scratch : scratch.subarray(0, end - offset);
    for (const [, hasher] of session.hashers) hasher.update(piece);
  }
  session.size += bytes.byteLength;
}

port.on('message', (/** @type {ToWorker} */ message) => {
  // Between two messages no native call is in progress, so ending the thread here is safe (hash-protocol.ts).
  if (message.op === 'exit') process.exit(0);
  const id = message.session;
  try {
    switch (message.op) {
      case 'open': {
        if (sessions.has(id)) throw new Error(`session ${id} is already open`);
        /** @type {Array<[string, Hasher]>} */
        const hashers = [];
        for (const name of message.algorithms) {
          const factory = factories[name];
          if (factory === undefined) throw new Error(`hash worker does not implement ${JSON.stringify(name)}`);
          hashers.push([name, factory()]);
        }
        sessions.set(id, { hashers, size: 0 });
        return;
      }
      case 'write': {
        const session = sessions.get(id);
        // Unknown: dropped (aborted) or already failed; the pool no longer waits for this reply.
        if (session === undefined) return;
        hash(session, message.bytes);
        reply({ op: 'written', session: id });
        return;
      }
      case 'digest': {
        const session = sessions.get(id);
        if (session === undefined) throw new Error(`session ${id} is not open`);
        sessions.delete(id);
        /** @type {Record<string, string>} */
        const hex = {};
        for (const [name, hasher] of session.hashers) hex[name] = hasher.digest('hex');
        reply({ op: 'digest', session: id, size: session.size, hex });
        return;
      }
      case 'drop':
        sessions.delete(id);
        return;
      default:
        throw new Error(`unknown hash worker message ${JSON.stringify(/** @type {{ op?: unknown }} */ (message).op)}`);
    }
  } catch (error) {
    sessions.delete(id);
    reply({ op: 'error', session: id, message: error instanceof Error ? error.message : String(error) });
  }
});
