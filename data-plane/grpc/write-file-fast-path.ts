/**
 * `DataPlaneService.WriteFile` over gRPC without connect-node's request pipeline (ADR 0019).
 *
 * connect-node turns each HTTP/2 chunk (about 16 KiB: one DATA frame) into a step of an async
 * iterator, gathers every message into a new zero-filled buffer (a copy of each byte, with a search
 * of its list of chunks at each one), decodes it and hands the payload on: about half a second of the
 * main thread's time per GiB more than the same bytes as an HTTP PUT. Here the request's chunks are
 * parsed as they arrive (`write-file-frames.ts`) and a data message's payload goes to the ingest as
 * views of them, through the same push interface as a PUT's body (`ChunkSource`).
 *
 * Everything but the byte path is shared with the connect-node handler: the call itself
 * (`writeFileAfterHeader`), its errors (`serviceError`: the same codes, reasons and metadata), and
 * connect's own helpers for the deadline (`grpc-timeout`) and the trailers. Only requests this path
 * can serve as connect-node would come here ({@link takesFastPath}; ADR 0019 names the one refusal it
 * may order differently); any other (gRPC-Web, Connect, the JSON codec, a compressed stream, HTTP/1.1)
 * goes to connect-node.
 */
import type { IncomingMessage } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { toBinary } from '@bufbuild/protobuf';
import type { ConnectError } from '@connectrpc/connect';
import { createDeadlineSignal, createLinkedAbortController, encodeEnvelope } from '@connectrpc/connect/protocol';
import { parseTimeout, setTrailerStatus } from '@connectrpc/connect/protocol-grpc';
import { DataPlaneService, WriteFileResponseSchema, type WriteFileRequest } from '../../gen/artifactstore/v1/data_plane_service_pb.ts';
import { DataPlaneError } from '../errors/data-plane-error.ts';
import type { DataPlaneDeps } from '../files/data-plane-deps.ts';
import type { ChunkSource } from '../ingest/ingest-object.ts';
import { callerFromAuthorization, headerOf, laterHeaderError, requestStreamError, serviceError, streamEndedEarly, writeFileAfterHeader } from './data-plane-service.ts';
import { FrameError, WriteFileFrameParser, type WriteFilePiece } from './write-file-frames.ts';

/** The method's path. */
export const WRITE_FILE_PATH = `/${DataPlaneService.typeName}/${DataPlaneService.method.writeFile.name}`;

/** What the fast path answers with, as connect-node does for the binary codec. */
const RESPONSE_CONTENT_TYPE = 'application/grpc+proto';

/** Options of {@link serveWriteFile}: connect-node's for the same server. */
export interface FastPathOptions {
  /** Largest message accepted (connect-node's `readMaxBytes`). */
  readonly readMaxBytes: number;
  /** Aborts every call in flight when the server shuts down. */
  readonly shutdownSignal: AbortSignal;
}

/**
 * True for a gRPC WriteFile call with the binary codec and no compression, over HTTP/2: the calls the
 * fast path serves.
 */
export function takesFastPath(req: IncomingMessage | Http2ServerRequest): req is Http2ServerRequest {
  if (req.httpVersionMajor !== 2 || req.method !== 'POST' || req.url !== WRITE_FILE_PATH) return false;
  const type = req.headers['content-type']?.toLowerCase();
  if (type !== 'application/grpc' && type !== 'application/grpc+proto') return false;
  const encoding = req.headers['grpc-encoding'];
  return encoding === undefined || encoding === 'identity';
}

/** Serves one WriteFile call that {@link takesFastPath} accepted; never throws. */
export function serveWriteFile(deps: DataPlaneDeps, req: Http2ServerRequest, res: Http2ServerResponse, options: FastPathOptions): void {
  const timeoutHeader = req.headers['grpc-timeout'];
  // connect-node's limit: none (its `maxTimeoutMs` is not set for this server).
  const timeout = parseTimeout(typeof timeoutHeader === 'string' ? timeoutHeader : null, Number.MAX_SAFE_INTEGER);
  const deadline = createDeadlineSignal(timeout.timeoutMs);
  // Errors of the stream surface as 'close' before the end (below, and in RequestFrames); an 'error'
  // event must not go unheard between the two phases.
  req.on('error', ignore);
  const gone = new AbortController();
  req.once('close', () => gone.abort(new DataPlaneError('incomplete-body', 'the client closed the stream')));
  const call = createLinkedAbortController(deadline.signal, gone.signal, options.shutdownSignal);
  const frames = new RequestFrames(req, new WriteFileFrameParser(options.readMaxBytes));
  const run = async (): Promise<Uint8Array> => {
    // In connect-node's order: the authorization header's form, the timeout, then the messages.
    const caller = callerFromAuthorization(req.headers.authorization);
    if (timeout.error !== undefined) throw requestStreamError(timeout.error);
    const first = await frames.first();
    const header = headerOf(first instanceof Uint8Array ? undefined : first);
    const response = await writeFileAfterHeader(deps, caller, header, frames.rest(), call.signal);
    return encodeEnvelope(0, toBinary(WriteFileResponseSchema, response));
  };
  run().then(
    (body) => finish(res, body, undefined),
    (error: unknown) => {
      finish(res, undefined, serviceError(error, call.signal));
      // The answer is out; what the client still sends is read and dropped (it stops on the status).
      frames.discard();
    },
  );
  res.once('close', () => {
    deadline.cleanup();
    call.abort();
  });
}

/** Sends the answer: one response message and status 0, or the error's status and metadata. */
function finish(res: Http2ServerResponse, body: Uint8Array | undefined, error: ConnectError | undefined): void {
  if (res.stream.destroyed || res.headersSent) return;
  const trailers = setTrailerStatus(new Headers(), error);
  res.writeHead(200, { 'content-type': RESPONSE_CONTENT_TYPE });
  res.addTrailers(Object.fromEntries(trailers));
  if (body === undefined) res.end();
  else res.end(body);
}

const ignore = (): void => undefined;

/**
 * The request's messages as they arrive: `first()` reads up to the first message, `rest()` then
 * delivers the data bytes after it as a {@link ChunkSource} (the request paused while the sink's
 * promise is pending, as for a PUT's body in `http-io.ts`).
 */
class RequestFrames {
  readonly #req: Http2ServerRequest;
  readonly #parser: WriteFileFrameParser;
  /** Parsed and not yet delivered, in order. */
  readonly #queue: WriteFilePiece[] = [];
  #ended = false;
  /**
   * Set when the stream closed before its end (the client reset it). Node may still hand out what it
   * had buffered, and then an 'end', when a paused request is resumed after the reset: not the end.
   */
  #cut = false;

  constructor(req: Http2ServerRequest, parser: WriteFileFrameParser) {
    this.#req = req;
    this.#parser = parser;
    req.once('close', () => {
      if (!req.readableEnded) this.#cut = true;
    });
  }

  /**
   * The first message (a data message's payload counts as one that is not a header); undefined when
   * the stream had none. Rejects with the stream's error when it fails or makes no sense first.
   */
  first(): Promise<WriteFileRequest | Uint8Array | undefined> {
    return new Promise((resolve, reject) => {
      let detach: (() => void) | undefined;
      const settle = (error: unknown, piece?: WriteFileRequest | Uint8Array): void => {
        detach?.();
        detach = undefined;
        this.#req.pause();
        if (error === undefined) resolve(piece);
        else reject(error instanceof Error ? error : new Error('the WriteFile stream failed', { cause: error }));
      };
      const take = (): void => {
        const piece = this.#queue.shift();
        if (piece === undefined) settle(undefined, undefined);
        else if (piece instanceof FrameError) settle(requestStreamError(piece.error));
        else settle(undefined, piece);
      };
      detach = this.#listen({
        data: (chunk) => {
          this.#parser.push(chunk, this.#queue);
          if (this.#queue.length > 0) take();
        },
        end: () => {
          this.#ended = true;
          this.#parser.end(this.#queue);
          take();
        },
        failed: (error) => settle(error),
      });
    });
  }

  /** The data bytes after the first message. A header among them is `bad-request`. */
  rest(): ChunkSource {
    return { pipe: (sink) => this.#pipe(sink) };
  }

  /** Reads and drops the rest of the request (after an answer was sent). */
  discard(): void {
    const req = this.#req;
    if (req.readableEnded || req.destroyed) return;
    req.removeAllListeners('data');
    req.on('data', ignore);
    req.resume();
  }

  #pipe(sink: (chunk: Uint8Array) => Promise<void> | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const req = this.#req;
      const queue = this.#queue;
      let settled = false;
      /** True while a promise the sink returned is pending. */
      let waiting = false;
      /** The stream's own failure (the client went away), kept until no sink promise is pending. */
      let failure: DataPlaneError | undefined;
      let detach: (() => void) | undefined;
      const finish = (error?: unknown): void => {
        if (settled) return;
        settled = true;
        detach?.();
        if (error === undefined) resolve();
        else {
          req.pause();
          reject(error instanceof Error ? error : new Error('the WriteFile sink failed', { cause: error }));
        }
      };
      /** Delivers queued pieces until the sink makes it wait; then resumes the request, or ends. */
      const drain = (): void => {
        while (queue.length > 0) {
          const piece = queue.shift() as WriteFilePiece;
          let bytes: Uint8Array;
          if (piece instanceof FrameError) return finish(requestStreamError(piece.error));
          if (piece instanceof Uint8Array) bytes = piece;
          else if (piece.kind.case === 'data') bytes = piece.kind.value;
          else if (piece.kind.case === 'header') return finish(laterHeaderError());
          else continue;
          if (bytes.byteLength === 0) continue;
          let wait: Promise<void> | undefined;
          try {
            wait = sink(bytes);
          } catch (error) {
            return finish(error);
          }
          if (wait !== undefined) {
            waiting = true;
            req.pause();
            wait.then(
              () => {
                waiting = false;
                if (failure !== undefined) finish(failure);
                else if (!settled) drain();
              },
              (error: unknown) => {
                waiting = false;
                finish(failure ?? error);
              },
            );
            return;
          }
        }
        if (failure !== undefined) return finish(failure);
        if (this.#ended) return finish();
        req.resume();
      };
      if (!this.#ended) {
        detach = this.#listen({
          data: (chunk) => {
            if (settled) return;
            this.#parser.push(chunk, queue);
            if (!waiting) drain();
          },
          end: () => {
            this.#ended = true;
            this.#parser.end(queue);
            if (!waiting) drain();
          },
          failed: (error) => {
            failure ??= error;
            if (!waiting) finish(failure);
          },
        });
        if (settled) return;
      }
      drain();
    });
  }

  /**
   * Listens to the request's `data` and `end`, and to its failure (`error`, `close` before the end, or
   * an 'end' after such a close), which `failed` gets as `incomplete-body`; a request cut or destroyed
   * already fails at once. Returns the function that stops listening.
   */
  #listen(on: { readonly data: (chunk: Buffer) => void; readonly end: () => void; readonly failed: (error: DataPlaneError) => void }): () => void {
    const req = this.#req;
    const onError = (error: unknown): void => on.failed(streamEndedEarly(error));
    const onClose = (): void => {
      if (!req.readableEnded) onError(new Error('stream closed'));
    };
    const onEnd = (): void => {
      if (this.#cut) onError(new Error('stream reset'));
      else on.end();
    };
    const detach = (): void => {
      req.off('data', on.data);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    if (this.#cut || (req.destroyed && !req.readableEnded)) {
      onError(new Error('the stream was reset or destroyed before it was read'));
      return detach;
    }
    req.on('error', onError);
    req.on('close', onClose);
    req.on('end', onEnd);
    req.on('data', on.data);
    return detach;
  }
}
