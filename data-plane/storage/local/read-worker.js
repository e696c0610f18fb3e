// @ts-check
/**
 * Read worker, started by `read-pool.ts`: reads small objects whole with synchronous system calls
 * (message contract: `read-protocol.ts`).
 *
 * Why a worker with blocking calls: an object read through `fs/promises` (open, realpath, fstat, read,
 * close) costs five thread-pool round trips, which for 4 KiB objects cost several times the system calls
 * themselves (a pull of 10,000 such files spent a quarter of the data plane's samples switching
 * threads). Here they are plain calls, a request's objects one after another, and the bytes go back in
 * one transferred buffer.
 *
 * The checks are those of `get` in `local-backend.ts`: no symlink as the object (O_NOFOLLOW), no
 * directory above it leading out of the root, a regular file (O_NONBLOCK: a FIFO planted in the store
 * does not hang the open), of the expected size; a file that turns out shorter while it is read is
 * refused too.
 */
import { closeSync, constants, fstatSync, openSync, readSync, realpathSync } from 'node:fs';
import { dirname, sep } from 'node:path';
import { parentPort } from 'node:worker_threads';

/** @typedef {import('./read-protocol.ts').ReadRequest} ReadRequest */
/** @typedef {import('./read-protocol.ts').ReadItem} ReadItem */
/** @typedef {import('./read-protocol.ts').ReadResult} ReadResult */
/** @typedef {import('./read-protocol.ts').ReadFailure} ReadFailure */

if (parentPort === null) throw new Error('read-worker.js must run as a worker thread');
const port = parentPort;

const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** A refusal decided here. */
class Refusal extends Error {
  /** @param {ReadFailure} failure */
  constructor(failure) {
    super('refused');
    this.failure = failure;
  }
}

/** @param {unknown} error @returns {ReadFailure} */
function failureOf(error) {
  if (error instanceof Refusal) return error.failure;
  const e = /** @type {{ code?: unknown; syscall?: unknown; message?: unknown }} */ (typeof error === 'object' && error !== null ? error : {});
  if (e.code === 'ENOENT' || e.code === 'ENOTDIR') return { kind: 'absent' };
  return {
    kind: 'system',
    ...(typeof e.code === 'string' ? { errno: e.code } : {}),
    ...(typeof e.syscall === 'string' ? { syscall: e.syscall } : {}),
    message: typeof e.message === 'string' ? e.message : String(error),
  };
}

/**
 * Reads `item` into `into` at `at` (which has room for `item.size` bytes).
 * @param {string} realRoot @param {ReadItem} item @param {Uint8Array} into @param {number} at
 */
function readItem(realRoot, item, into, at) {
  const fd = openSync(item.target, READ_FLAGS);
  try {
    // One realpath(3) of the directory: a symlinked directory above the object must not lead out of the root.
    const real = realpathSync.native(dirname(item.target));
    if (real !== realRoot && !real.startsWith(realRoot.endsWith(sep) ? realRoot : realRoot + sep)) {
      throw new Refusal({ kind: 'integrity', message: 'local storage: path leaves the root through a symbolic link' });
    }
    const info = fstatSync(fd);
    if (info.isDirectory()) throw new Refusal({ kind: 'absent' });
    if (!info.isFile()) throw new Refusal({ kind: 'integrity', message: 'local storage: the object is a special file' });
    if (info.size !== item.size) throw new Refusal({ kind: 'integrity', message: `the object is ${info.size} bytes but was recorded as ${item.size}: the stored copy is damaged` });
    let done = 0;
    while (done < item.size) {
      const n = readSync(fd, into, at + done, item.size - done, done);
      if (n === 0) throw new Refusal({ kind: 'integrity', message: `the object ended after ${done} of its ${item.size} bytes while it was read` });
      done += n;
    }
  } finally {
    closeSync(fd);
  }
}

port.on('message', (/** @type {ReadRequest} */ request) => {
  let total = 0;
  for (const item of request.items) total += item.size;
  let bytes;
  try {
    bytes = new Uint8Array(total);
  } catch (error) {
    // Out of memory for this request: its items fail, the worker (and other requests) go on.
    const failure = failureOf(error);
    port.postMessage({ id: request.id, bytes: new ArrayBuffer(0), results: request.items.map(() => ({ ok: false, failure })) });
    return;
  }
  /** @type {ReadResult[]} */
  const results = [];
  let at = 0;
  for (const item of request.items) {
    try {
      readItem(request.realRoot, item, bytes, at);
      results.push({ ok: true, offset: at });
      at += item.size;
    } catch (error) {
      results.push({ ok: false, failure: failureOf(error) });
    }
  }
  port.postMessage({ id: request.id, bytes: bytes.buffer, results }, [bytes.buffer]);
});
