/**
 * The few response and request operations the byte routes use, written once for both `node:http` and
 * the `node:http2` compatibility API (one port serves both, see `core/net/h2c-listener.ts`).
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { constants as h2, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import type { Readable } from 'node:stream';
import { DataPlaneError } from '../errors/data-plane-error.ts';
import type { ChunkSource } from '../ingest/ingest-object.ts';

/** A request of either protocol version. */
export type HttpRequest = IncomingMessage | Http2ServerRequest;
/** A response of either protocol version. */
export type HttpResponse = ServerResponse | Http2ServerResponse;

// The two response classes have the same methods with differently spelled overloads; calls go
// through this one view so the union needs no casts elsewhere.
function h1(res: HttpResponse): ServerResponse {
  return res as ServerResponse;
}

/** True when `res` belongs to an HTTP/2 stream. */
export function isHttp2(res: HttpResponse): res is Http2ServerResponse {
  return 'stream' in res;
}

/** One request header as a string (the first, when repeated); undefined when absent. */
export function header(req: HttpRequest, name: string): string | undefined {
  const value = req.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

/** Sends a complete response. */
export function respond(res: HttpResponse, status: number, headers: OutgoingHttpHeaders, body?: string | Uint8Array): void {
  const all: OutgoingHttpHeaders = { ...headers };
  if (body !== undefined) all['content-length'] = typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
  h1(res).writeHead(status, all);
  if (body === undefined) h1(res).end();
  else h1(res).end(body);
}

/** Sends status and headers of a response whose body follows (see `pump`). */
export function startResponse(res: HttpResponse, status: number, headers: OutgoingHttpHeaders): void {
  h1(res).writeHead(status, headers);
}

/** Sends a JSON response. */
export function respondJson(res: HttpResponse, status: number, value: unknown, headers: OutgoingHttpHeaders = {}): void {
  respond(res, status, { ...headers, 'content-type': 'application/json', 'cache-control': 'no-store' }, JSON.stringify(value));
}

/**
 * An AbortSignal that fires when the client goes away before the response is complete (connection or
 * stream closed), so backend reads and writes stop with it.
 */
export function clientGoneSignal(res: HttpResponse): AbortSignal {
  const controller = new AbortController();
  res.once('close', () => {
    if (!h1(res).writableFinished) controller.abort(new DataPlaneError('incomplete-body', 'client closed the connection'));
  });
  return controller.signal;
}

/** Tells a client that waits with `Expect: 100-continue` to send the body. Call only once authorized. */
export function acceptBody(req: HttpRequest, res: HttpResponse): void {
  if (header(req, 'expect')?.toLowerCase() === '100-continue') h1(res).writeContinue();
}

/**
 * The request body as chunks, at most `maxBytes` in all (`payload-too-large` beyond). A connection that
 * ends before the body does (the client hung up) becomes `incomplete-body`.
 */
export async function* requestBody(req: HttpRequest, maxBytes: number): AsyncGenerator<Uint8Array> {
  let received = 0;
  const iterator = (req as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  for (;;) {
    let step: IteratorResult<Buffer>;
    try {
      step = await iterator.next();
    } catch (error) {
      throw new DataPlaneError('incomplete-body', 'the request body ended early (the client closed the connection)', { cause: error });
    }
    if (step.done === true) return;
    received += step.value.byteLength;
    if (received > maxBytes) {
      await iterator.return?.();
      throw new DataPlaneError('payload-too-large', `the body exceeds the limit of ${maxBytes} bytes`);
    }
    yield step.value;
  }
}

const ignore = (): void => undefined;

/**
 * The request body as a {@link ChunkSource}: chunks are taken in flowing mode, one `'data'` event each,
 * and the request is paused while the sink's promise is pending. The same limits and errors as
 * `requestBody`: more than `maxBytes` is `payload-too-large` (the request is destroyed, as
 * `requestBody` does), a body that ends early is `incomplete-body`.
 *
 * `pipe` settles only once no sink promise is pending: Node may announce the end (or the client's
 * abort) while the last chunk's promise still runs, and the caller's cleanup must not start under it.
 */
export function requestBodySource(req: HttpRequest, maxBytes: number): ChunkSource {
  return {
    pipe(sink) {
      return new Promise<void>((resolve, reject) => {
        let received = 0;
        let settled = false;
        /** The sink's promise while it is pending. */
        let pending: Promise<void> | undefined;
        /** Set when the body ended while a sink promise was pending. */
        let ended = false;
        /** The body's own failure (the client went away), kept until no sink promise is pending. */
        let failure: DataPlaneError | undefined;
        const readable = req as Readable;
        const finish = (error?: unknown): void => {
          if (settled) return;
          settled = true;
          readable.off('data', onData);
          readable.off('end', onEnd);
          readable.off('error', onError);
          readable.off('close', onClose);
          // A later error (the client going away after all) is of no interest, but must not go unheard.
          readable.on('error', ignore);
          if (error === undefined) resolve();
          else {
            readable.pause();
            reject(error instanceof Error ? error : new Error('the body sink failed', { cause: error }));
          }
        };
        const onData = (chunk: Buffer): void => {
          if (settled || failure !== undefined) return;
          received += chunk.byteLength;
          if (received > maxBytes) {
            finish(new DataPlaneError('payload-too-large', `the body exceeds the limit of ${maxBytes} bytes`));
            readable.destroy();
            return;
          }
          let wait: Promise<void> | undefined;
          try {
            wait = sink(chunk);
          } catch (error) {
            finish(error);
            return;
          }
          if (wait === undefined) return;
          pending = wait;
          readable.pause();
          wait.then(
            () => {
              pending = undefined;
              if (failure !== undefined) finish(failure);
              else if (ended) finish();
              else if (!settled) readable.resume();
            },
            (error: unknown) => {
              pending = undefined;
              finish(failure ?? error);
            },
          );
        };
        const onEnd = (): void => {
          ended = true;
          if (pending === undefined) finish();
        };
        const onError = (error: unknown): void => {
          failure ??= new DataPlaneError('incomplete-body', 'the request body ended early (the client closed the connection)', { cause: error });
          if (pending === undefined) finish(failure);
        };
        const onClose = (): void => {
          if (!readable.readableEnded) onError(new Error('connection closed'));
        };
        // Already over: a destroyed body never emits again, an ended and read one has nothing left.
        if (readable.destroyed && !readable.readableEnded) {
          onError(new Error('the request was destroyed before its body was read'));
          return;
        }
        if (readable.readableEnded) {
          finish();
          return;
        }
        readable.on('error', onError);
        readable.on('close', onClose);
        readable.on('end', onEnd);
        readable.on('data', onData);
      });
    },
  };
}

/** Reads a small body whole (JSON requests), refusing more than `maxBytes`. */
export async function readSmallBody(req: HttpRequest, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of requestBody(req, maxBytes)) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

/**
 * Parses a small JSON body that must be an object holding only `known` fields; `bad-request` otherwise
 * (naming the first unknown field).
 */
export function parseJsonObject(body: Buffer, known: readonly string[]): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    throw new DataPlaneError('bad-request', 'the body must be a JSON object');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new DataPlaneError('bad-request', 'the body must be a JSON object');
  for (const key of Object.keys(value)) if (!known.includes(key)) throw new DataPlaneError('bad-request', `unknown field "${key}"`);
  return value as Record<string, unknown>;
}

/**
 * Streams `source` into the response, then ends it (unless `end: false`). Each chunk is handed to the
 * socket before the next is asked for (the write's callback), which is the backpressure and lets the
 * source reuse its buffers (`GetOptions.reuseBuffers`). When the client goes away the loop stops, which
 * returns the source iterator and releases the backend read.
 */
export async function pump(source: AsyncIterable<Uint8Array>, res: HttpResponse, signal: AbortSignal, options: { readonly end?: boolean } = {}): Promise<void> {
  const out = h1(res);
  for await (const chunk of source) {
    if (signal.aborted) throw signal.reason;
    await written(out, chunk, signal);
  }
  if (options.end !== false) await endResponse(res);
}

/** Ends a response whose body was written; resolves once it is flushed. */
export function endResponse(res: HttpResponse): Promise<void> {
  return new Promise<void>((resolve) => h1(res).end(resolve));
}

function written(out: ServerResponse, chunk: Uint8Array, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    out.write(chunk, (error) => {
      signal.removeEventListener('abort', onAbort);
      if (error === null || error === undefined) resolve();
      else reject(error);
    });
  });
}

/** Ends a response whose headers are already sent, so the client sees a failed transfer, not a short body. */
export function breakResponse(res: HttpResponse): void {
  if (isHttp2(res)) {
    if (!res.stream.destroyed) res.stream.close(h2.NGHTTP2_INTERNAL_ERROR);
  } else {
    res.destroy();
  }
}

/** True when the request announced a body (Content-Length > 0 or chunked / HTTP/2 without END_STREAM). */
export function hasPendingBody(req: HttpRequest): boolean {
  if (req.readableEnded || req.complete) return false;
  const length = header(req, 'content-length');
  if (length !== undefined) return length !== '0';
  return header(req, 'transfer-encoding') !== undefined || req.httpVersionMajor === 2;
}
