// requestBodySource (data-plane/http/http-io.ts): a request body pushed to a sink in flowing mode, paused
// while the sink's promise is pending, with requestBody's limits and errors. Against a real node:http
// server and client on loopback.
import { randomBytes } from 'node:crypto';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createDeferred } from '../../core/identity/deferred.ts';
import { requestBodySource } from '../../data-plane/http/http-io.ts';

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
  server = undefined;
});

/** A server handing each request to `handle`; resolves with its port. */
async function serve(handle: (req: IncomingMessage) => void): Promise<number> {
  server = createServer((req, res) => {
    handle(req);
    req.once('end', () => res.end());
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** PUTs `body` in 64 KiB writes; with `cutAfter`, destroys the connection after that many bytes. */
function put(port: number, body: Uint8Array, cutAfter?: number): void {
  const req = request({ host: '127.0.0.1', port, method: 'PUT', path: '/', headers: { 'content-length': body.byteLength } });
  req.on('error', () => undefined);
  const end = cutAfter ?? body.byteLength;
  let offset = 0;
  const pump = (): void => {
    while (offset < end) {
      const piece = body.subarray(offset, Math.min(end, offset + 65_536));
      offset += piece.byteLength;
      if (!req.write(piece)) {
        req.once('drain', pump);
        return;
      }
    }
    if (cutAfter === undefined) req.end();
    else setTimeout(() => req.destroy(), 50);
  };
  pump();
}

describe('requestBodySource', () => {
  it('delivers the body in order and resolves at its end', async () => {
    const body = randomBytes(3 * 1024 * 1024 + 7);
    const piped = createDeferred<Buffer>();
    const port = await serve((req) => {
      const parts: Buffer[] = [];
      requestBodySource(req, body.byteLength)
        .pipe((chunk) => {
          parts.push(Buffer.from(chunk));
          return undefined;
        })
        .then(() => piped.resolve(Buffer.concat(parts)), piped.reject);
    });
    put(port, body);
    expect((await piped.promise).equals(body)).toBe(true);
  });

  it('delivers no further chunk while the promise the sink returned is pending', async () => {
    const body = randomBytes(2 * 1024 * 1024);
    const first = createDeferred<void>();
    const firstSeen = createDeferred<void>();
    let chunks = 0;
    let bytes = 0;
    const piped = createDeferred<void>();
    const port = await serve((req) => {
      requestBodySource(req, body.byteLength)
        .pipe((chunk) => {
          chunks += 1;
          bytes += chunk.byteLength;
          if (chunks === 1) {
            firstSeen.resolve();
            return first.promise;
          }
          return undefined;
        })
        .then(piped.resolve, piped.reject);
    });
    put(port, body);
    await firstSeen.promise;
    await new Promise((resolve) => setTimeout(resolve, 200)); // the client has sent far more by now
    expect(chunks).toBe(1);
    first.resolve();
    await piped.promise;
    expect(bytes).toBe(body.byteLength);
    expect(chunks).toBeGreaterThan(1);
  });

  it('rejects with what the sink threw or rejected with, and delivers nothing after it', async () => {
    for (const how of ['throw', 'reject'] as const) {
      const failure = new Error(`sink ${how}`);
      let after = 0;
      let failed = false;
      const piped = createDeferred<unknown>();
      const port = await serve((req) => {
        requestBodySource(req, 1 << 30)
          .pipe(() => {
            if (failed) after += 1;
            failed = true;
            if (how === 'throw') throw failure;
            return Promise.reject(failure);
          })
          .then(() => piped.resolve('resolved'), piped.resolve);
      });
      put(port, randomBytes(1024 * 1024));
      expect(await piped.promise).toBe(failure);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(after, how).toBe(0);
      server?.closeAllConnections();
      await new Promise((resolve) => server?.close(resolve));
      server = undefined;
    }
  });

  it('refuses a body over maxBytes with payload-too-large', async () => {
    const piped = createDeferred<unknown>();
    const port = await serve((req) => {
      requestBodySource(req, 100_000)
        .pipe(() => undefined)
        .then(() => piped.resolve('resolved'), piped.resolve);
    });
    put(port, randomBytes(1024 * 1024));
    expect(await piped.promise).toMatchObject({ code: 'payload-too-large' });
  });

  it('turns a connection closed mid-body into incomplete-body, also one closed while paused', async () => {
    for (const paused of [false, true]) {
      const piped = createDeferred<unknown>();
      let first = true;
      const port = await serve((req) => {
        requestBodySource(req, 1 << 30)
          .pipe(() => {
            // Paused: the first chunk keeps the body paused until well after the client has gone (a
            // paused socket is not read, so the close is seen once the body resumes).
            if (!paused || !first) return undefined;
            first = false;
            return new Promise<void>((resolve) => setTimeout(resolve, 400));
          })
          .then(() => piped.resolve('resolved'), piped.resolve);
      });
      put(port, randomBytes(1024 * 1024), 300_000);
      expect(await piped.promise, paused ? 'paused' : 'flowing').toMatchObject({ code: 'incomplete-body' });
      await new Promise((resolve) => server?.close(resolve));
      server = undefined;
    }
  });
});
