/**
 * A gRPC call made of raw bytes over `node:http2`: the test chooses every byte of the request body
 * (message prefixes, encodings, where writes split) and every header, and reads the answer's status,
 * message and metadata from the headers (a trailers-only answer) or the trailers.
 */
import { connect, constants, type IncomingHttpHeaders } from 'node:http2';

/** The answer to a raw call. */
export interface RawGrpcAnswer {
  /** `grpc-status` (undefined when the stream closed without one). */
  readonly status: string | undefined;
  /** `grpc-message`, percent-decoded. */
  readonly message: string | undefined;
  /** The `artifactstore-reason` metadata. */
  readonly reason: string | undefined;
  /** The response body (length-prefixed messages). */
  readonly body: Buffer;
  /** The RST_STREAM code the stream closed with (0: none, or NO_ERROR). */
  readonly rstCode: number;
  /** How many of the pieces were written. */
  readonly written: number;
  /** Whether the status came before the client ended (or cancelled) its side of the stream. */
  readonly answeredBeforeEnd: boolean;
}

/** Options of {@link rawGrpcCall}. */
export interface RawCallOptions {
  /** Stop writing once the server has answered (as gRPC clients do). */
  readonly stopOnAnswer?: boolean;
  /** Cancel the stream (RST_STREAM CANCEL) after writing this many pieces, instead of ending it. */
  readonly cancelAfter?: number;
  /** Wait this long after the last piece before ending the stream. */
  readonly endAfterMs?: number;
  /** Kept up to date with the number of pieces written so far, while the call runs. */
  readonly progress?: { written: number };
}

/** Calls `path` on `baseUrl` with `pieces` written one `write` each; resolves when the stream closes. */
export function rawGrpcCall(baseUrl: string, path: string, headers: Record<string, string>, pieces: readonly Uint8Array[], options: RawCallOptions = {}): Promise<RawGrpcAnswer> {
  return new Promise((resolve, reject) => {
    const session = connect(baseUrl);
    session.on('error', reject);
    const stream = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', ...headers });
    const answer: { status?: string | undefined; message?: string | undefined; reason?: string | undefined; beforeEnd?: boolean } = {};
    let ended = false;
    const read = (h: IncomingHttpHeaders): void => {
      const one = (name: string): string | undefined => {
        const value = h[name];
        return typeof value === 'string' ? value : undefined;
      };
      if (answer.status === undefined && one('grpc-status') !== undefined) answer.beforeEnd = !ended;
      answer.status ??= one('grpc-status');
      const message = one('grpc-message');
      answer.message ??= message === undefined ? undefined : decodeURIComponent(message);
      answer.reason ??= one('artifactstore-reason');
    };
    stream.on('response', read);
    stream.on('trailers', read);
    const body: Buffer[] = [];
    let written = 0;
    stream.on('data', (part: Buffer) => body.push(part));
    stream.on('error', () => undefined); // a cancelled or reset stream: its close says how
    stream.on('close', () => {
      session.close();
      resolve({ status: answer.status, message: answer.message, reason: answer.reason, body: Buffer.concat(body), rstCode: stream.rstCode ?? 0, written, answeredBeforeEnd: answer.beforeEnd === true });
    });
    void (async () => {
      for (const piece of pieces) {
        if (options.stopOnAnswer === true && answer.status !== undefined) break;
        if (options.cancelAfter !== undefined && written === options.cancelAfter) break;
        if (stream.destroyed || stream.closed) return;
        if (!stream.write(piece)) {
          await new Promise<void>((resolve) => {
            const go = (): void => {
              stream.off('drain', go).off('close', go);
              resolve();
            };
            stream.on('drain', go).on('close', go);
          });
        }
        written += 1;
        if (options.progress !== undefined) options.progress.written = written;
      }
      if (options.endAfterMs !== undefined) await new Promise((r) => setTimeout(r, options.endAfterMs));
      ended = true;
      if (options.cancelAfter !== undefined) stream.close(constants.NGHTTP2_CANCEL);
      else if (!stream.destroyed && !stream.closed) stream.end();
    })().catch(reject);
  });
}

/** `message` with its gRPC prefix (flags 0 unless given). */
export function grpcEnvelope(message: Uint8Array, flags = 0): Uint8Array {
  const out = new Uint8Array(5 + message.byteLength);
  const view = new DataView(out.buffer);
  view.setUint8(0, flags);
  view.setUint32(1, message.byteLength);
  out.set(message, 5);
  return out;
}
