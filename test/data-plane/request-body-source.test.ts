// requestBodySource (data-plane/http/http-io.ts): a request body pushed to a sink in flowing mode, paused
// while the sink's promise is pending, with requestBody's limits and errors. Against a real node:http
// server and client on loopback.
import { randomBytes } from 'node:crypto';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import { Readable } from 'node:stream';
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

  it('resolves only once the last sink promise settled, though Node announces the end under it', async () => {
    // Every chunk's promise takes a while; Node queues 'end' when it hands out the last buffered chunk
    // of a body that has ended, paused or not (seen with a chunked body of three 64 KiB pieces).
    const outcome = createDeferred<{ pending: number; delivered: number }>();
    const port = await serve((req) => {
      let pending = 0;
      let delivered = 0;
      requestBodySource(req, 1 << 30)
        .pipe((chunk) => {
          delivered += chunk.byteLength;
          pending += 1;
          return new Promise<void>((resolve) => setTimeout(resolve, 150)).then(() => {
            pending -= 1;
          });
        })
        .then(() => outcome.resolve({ pending, delivered }), outcome.reject);
    });
    const body = Buffer.alloc(3 * 65_536, 7);
    const client = request({ host: '127.0.0.1', port, method: 'PUT', path: '/', headers: { 'transfer-encoding': 'chunked' } });
    client.on('error', () => undefined);
    client.end(body);
    expect(await outcome.promise).toEqual({ pending: 0, delivered: body.byteLength });
  });

  it('delivers every byte of a body that had wholly arrived, and resolves after the last promise', async () => {
    const chunks = [Buffer.alloc(32_768, 1), ...Array.from({ length: 16 }, (_, i) => Buffer.alloc(65_536, i + 2))];
    const body = new Readable({ read() {} });
    for (const chunk of chunks) body.push(chunk);
    body.push(null);
    let delivered = 0;
    let settledSinks = 0;
    await requestBodySource(body as unknown as IncomingMessage, 1 << 30).pipe((chunk) => {
      delivered += chunk.byteLength;
      return new Promise<void>((resolve) => setTimeout(resolve, 5)).then(() => {
        settledSinks += 1;
      });
    });
    expect([delivered, settledSinks]).toEqual([Buffer.concat(chunks).byteLength, chunks.length]);
  });

  it('rejects a client abort only after the pending sink promise settled', async () => {
    const body = new Readable({ read() {} });
    body.push(Buffer.alloc(1000));
    let sinkSettled = false;
    const piped = requestBodySource(body as unknown as IncomingMessage, 1 << 30).pipe(
      () =>
        new Promise<void>((resolve) =>
          setTimeout(() => {
            sinkSettled = true;
            resolve();
          }, 300),
        ),
    );
    setTimeout(() => body.destroy(new Error('ECONNRESET')), 50);
    await expect(piped).rejects.toMatchObject({ code: 'incomplete-body' });
    expect(sinkSettled).toBe(true);
  });

  it('rejects at once on a request destroyed before its body was read', async () => {
    const body = new Readable({ read() {} });
    body.destroy();
    await new Promise((resolve) => setImmediate(resolve));
    await expect(requestBodySource(body as unknown as IncomingMessage, 1 << 30).pipe(() => undefined)).rejects.toMatchObject({ code: 'incomplete-body' });
  });
});

