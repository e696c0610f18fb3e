/**
 * One TCP port for HTTP/1.1 and cleartext HTTP/2 (h2c with prior knowledge, what gRPC clients speak),
 * shared by the control plane and the data plane.
 *
 * Node 20 has no server that speaks both without TLS/ALPN, so a plain `net.Server` reads the first bytes
 * of each connection: a connection that starts with the HTTP/2 client preface (`PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`)
 * goes to an `http2` server, anything else to an `http` server. The bytes read are pushed back with
 * `unshift` before the connection is handed over, so the chosen server reads it from its first byte.
 * The same request handler serves both, so it must accept `http.IncomingMessage` and
 * `http2.Http2ServerRequest` alike (connect-node's `NodeHandlerFn` does).
 *
 * Two Node behaviours this relies on, and one it mends (`keepPausedSocketStopped`), all exercised by
 * `test/net/h2c-listener.test.ts`:
 * - Http2Session reads bytes already buffered on a socket when it starts (nodejs/node#35475).
 * - The http1 parser reads the native handle directly once attached; resuming the socket replays the
 *   pushed-back bytes through its 'data' listener first.
 */
import { createServer as createHttp1Server, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttp2Server, type Http2ServerRequest, type Http2ServerResponse, type Http2Session } from 'node:http2';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';

/** The part of a socket's native handle that node:http's own flow control uses. */
interface ReadingHandle {
  reading?: boolean;
  readStop?: () => number;
}

/**
 * Backpressure on an HTTP/1.1 connection after the handover. node:http reads the handle directly and
 * stops it when a request body fills its buffer (the socket's 'pause') and starts it again on 'resume'.
 * But Node emits 'resume' from a resume it scheduled (here: the handover's `socket.resume()`) even when
 * the socket was paused again in the same tick, as a body that fills the buffer before the handler reads
 * does. node:http then starts the handle of a paused socket, and its later pauses are no-ops (the socket
 * is paused already): the whole body was read into memory, however long the handler paused (up to 1 GiB
 * in a data plane behind a slow disk; most new connections in test/net/h2c-listener.test.ts). Run after
 * node:http's own 'resume' listener, this stops the handle again whenever the socket is in fact paused,
 * for as long as node:http consumes the socket (its parser reads the handle).
 */
function keepPausedSocketStopped(socket: Socket): void {
  const internals = socket as unknown as { _handle?: ReadingHandle | null; parser?: { _consumed?: boolean } | null };
  // Only while node:http reads the handle itself: once it let go (an upgrade, a 'data' listener) the
  // socket's own stream reads it, and stopping its handle here could stall that stream for good.
  if (internals.parser?._consumed !== true) return;
  const handle = internals._handle;
  if (socket.readableFlowing !== false || handle?.reading !== true || handle.readStop === undefined) return;
  handle.reading = false;
  handle.readStop();
}

/** A handler for both protocol versions (the shape of connect-node's `NodeHandlerFn`). */
export type DualProtocolHandler = (request: IncomingMessage | Http2ServerRequest, response: ServerResponse | Http2ServerResponse) => void;

/** Options of {@link listenHttp1AndH2c}. */
export interface DualProtocolServerOptions {
  /** Interface to listen on, e.g. `127.0.0.1`. */
  readonly host: string;
  /** 0 picks an ephemeral port; read it back from `port` on the result. */
  readonly port: number;
  readonly handler: DualProtocolHandler;
  /**
   * Called instead of `handler` for requests carrying `Expect: 100-continue` (both versions). Default:
   * Node's own behaviour, `100 Continue` at once and then `handler`. A route that must not invite the
   * body before it decided (authorization, a redirect) passes a function that calls `writeContinue`
   * itself, or never.
   */
  readonly checkContinue?: DualProtocolHandler;
  /**
   * HTTP/2 flow-control window per stream, in bytes (default 16 MiB). Node's default 64 KiB window caps a
   * single loopback stream far below what the disk and the hashers can take.
   */
  readonly http2StreamWindowBytes?: number;
  /** HTTP/2 flow-control window per connection, in bytes (default 32 MiB), shared by its streams. */
  readonly http2SessionWindowBytes?: number;
  /**
   * How long an idle HTTP/1.1 keep-alive connection is kept (default 5 000 ms). Behind a proxy or load
   * balancer make it longer than the proxy's idle timeout, or the proxy may reuse a closing connection.
   */
  readonly keepAliveTimeoutMs?: number;
}

/** A listening dual-protocol server. */
export interface DualProtocolServer {
  /** The bound address (the real port when 0 was asked). */
  readonly address: AddressInfo;
  /** The bound port, `address.port`. */
  readonly port: number;
  /**
   * Stops accepting connections, asks HTTP/2 clients to go away (GOAWAY), closes HTTP/1.1 connections as
   * soon as they are idle, lets in-flight requests finish for up to `graceMs` (default 5000), then
   * destroys whatever is still open. Resolves when every connection is closed. Safe to call twice; the
   * second call returns the first one's promise (and its `graceMs`).
   */
  close(graceMs?: number): Promise<void>;
}

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const DEFAULT_STREAM_WINDOW = 16 * 1024 * 1024;
const DEFAULT_SESSION_WINDOW = 32 * 1024 * 1024;
/** A client that sends fewer than 24 bytes in this long is served as HTTP/1.1 (whose header timeout then applies). */
const SNIFF_TIMEOUT_MS = 10_000;
/** How often `close` sweeps HTTP/1.1 connections that became idle. */
const CLOSE_SWEEP_MS = 20;

/**
 * How the first bytes of a connection classify: `h2` once they equal the whole preface, `http1` as soon
 * as they differ from it, `undecided` while they are a proper prefix of it (including no bytes at all).
 */
export function classifyPreface(head: Uint8Array): 'h2' | 'http1' | 'undecided' {
  const n = Math.min(head.byteLength, PREFACE.byteLength);
  for (let i = 0; i < n; i++) if (head[i] !== PREFACE[i]) return 'http1';
  return head.byteLength >= PREFACE.byteLength ? 'h2' : 'undecided';
}

/** Starts listening on `host:port`; resolves once connections are accepted, rejects when the port cannot be bound. */
export async function listenHttp1AndH2c(options: DualProtocolServerOptions): Promise<DualProtocolServer> {
  const streamWindow = options.http2StreamWindowBytes ?? DEFAULT_STREAM_WINDOW;
  const sessionWindow = options.http2SessionWindowBytes ?? DEFAULT_SESSION_WINDOW;
  const checkContinue = options.checkContinue;
  // Large uploads and client streams legitimately take minutes: no whole-request timeout, but headers
  // must arrive promptly.
  const http1 = createHttp1Server({ requestTimeout: 0, headersTimeout: 60_000, keepAliveTimeout: options.keepAliveTimeoutMs ?? 5_000 }, options.handler);
  // Node starts its connection tracking (closeIdleConnections, the headers timeout check) on 'listening',
  // which a server that is only handed sockets never emits by itself. Undone by `http1.close()` below.
  http1.emit('listening');
  const http2 = createHttp2Server({ settings: { initialWindowSize: streamWindow } }, options.handler);
  if (checkContinue !== undefined) {
    http1.on('checkContinue', checkContinue);
    http2.on('checkContinue', checkContinue);
  }
  const sessions = new Set<Http2Session>();
  http2.on('session', (session: Http2Session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
    // The connection-level window is separate from the per-stream setting above, and can only be set
    // once the session is set up.
    const raise = (): void => {
      if (!session.destroyed) session.setLocalWindowSize(sessionWindow);
    };
    if (session.connecting) session.once('connect', raise);
    else raise();
  });
  // A client's protocol error ends its own session; it is not the server's failure.
  http2.on('sessionError', () => undefined);

  const sockets = new Set<Socket>();
  const net = createNetServer({ pauseOnConnect: false }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let head: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => hand('http1'), SNIFF_TIMEOUT_MS);
    const onData = (chunk: Buffer): void => {
      head = head.byteLength === 0 ? chunk : Buffer.concat([head, chunk]);
      const kind = classifyPreface(head);
      if (kind !== 'undecided') hand(kind);
    };
    function hand(kind: 'h2' | 'http1'): void {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.pause();
      if (head.byteLength > 0) socket.unshift(head);
      if (kind === 'h2') {
        http2.emit('connection', socket);
      } else {
        http1.emit('connection', socket);
        socket.on('resume', () => keepPausedSocketStopped(socket));
        socket.resume();
      }
    }
    socket.on('data', onData);
  });

  await new Promise<void>((resolve, reject) => {
    net.once('error', reject);
    net.listen(options.port, options.host, () => {
      net.off('error', reject);
      resolve();
    });
  });
  const address = net.address() as AddressInfo;

  async function close(graceMs = 5_000): Promise<void> {
    const closed = new Promise<void>((resolve) => net.close(() => resolve()));
    for (const session of sessions) session.close();
    await new Promise<void>((resolve) => {
      const sweep = setInterval(check, CLOSE_SWEEP_MS);
      const deadline = setTimeout(done, graceMs);
      check();
      function check(): void {
        // A keep-alive connection becomes idle when its last response ends.
        http1.closeIdleConnections();
        if (sockets.size === 0) done();
      }
      function done(): void {
        clearInterval(sweep);
        clearTimeout(deadline);
        resolve();
      }
    });
    for (const session of sessions) session.destroy();
    for (const socket of sockets) socket.destroy();
    // Stops http1's connection-checking interval; it never listened, so the callback's error is expected.
    http1.close(() => undefined);
    await closed;
  }
  let closing: Promise<void> | undefined;
  return {
    address,
    port: address.port,
    close: (graceMs) => (closing ??= close(graceMs)),
  };
}
