// The shared HTTP/1.1 + h2c listener (core/net/h2c-listener.ts): the preface classifier, both protocol
// versions on one port, the raised HTTP/2 windows, Expect: 100-continue, backpressure on a paused
// HTTP/1.1 body, and graceful close.
import { createHash } from 'node:crypto';
import { request as httpRequest, Agent } from 'node:http';
import { connect as http2Connect, type ClientHttp2Session } from 'node:http2';
import { connect as netConnect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createDeferred } from '../../core/identity/deferred.ts';
import { classifyPreface, listenHttp1AndH2c, type DualProtocolHandler, type DualProtocolServer } from '../../core/net/h2c-listener.ts';
import { putStream } from '../support/put-stream.ts';

const MiB = 1024 * 1024;

describe('classifyPreface', () => {
  const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
  it('decides as soon as it can', () => {
    expect(classifyPreface(preface)).toBe('h2');
    expect(classifyPreface(Buffer.concat([preface, Buffer.from([0, 0])]))).toBe('h2');
    expect(classifyPreface(preface.subarray(0, 5))).toBe('undecided');
    expect(classifyPreface(Buffer.from('PUT /'))).toBe('http1');
    expect(classifyPreface(Buffer.from('PRI * HTTP/1.1'))).toBe('http1');
    expect(classifyPreface(Buffer.alloc(0))).toBe('undecided');
  });
});

describe('listenHttp1AndH2c', () => {
  const open: { close(): unknown }[] = [];
  afterEach(async () => {
    for (const o of open.splice(0).reverse()) await o.close();
  });

  async function listen(handler: DualProtocolHandler, extra: { checkContinue?: DualProtocolHandler } = {}): Promise<DualProtocolServer> {
    const server = await listenHttp1AndH2c({ host: '127.0.0.1', port: 0, handler, ...extra });
    open.push({ close: () => server.close(0) });
    return server;
  }

  /** Echoes the protocol version, method and body. */
  const echo: DualProtocolHandler = (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      res.setHeader('content-type', 'text/plain');
      res.end(`${req.httpVersion} ${req.method} ${Buffer.concat(chunks).toString()}`);
    });
  };

  function http1(port: number, options: { method?: string; body?: string; agent?: Agent } = {}): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, method: options.method ?? 'GET', path: '/', agent: options.agent ?? false }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end(options.body);
    });
  }

  function h2(port: number): ClientHttp2Session {
    const session = http2Connect(`http://127.0.0.1:${port}`);
    open.push({ close: () => session.destroy() });
    return session;
  }

  function h2Request(session: ClientHttp2Session, body?: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const stream = session.request({ ':method': body === undefined ? 'GET' : 'POST', ':path': '/' });
      let status = 0;
      let text = '';
      stream.on('response', (headers) => (status = Number(headers[':status'])));
      stream.setEncoding('utf8').on('data', (d: string) => (text += d));
      stream.on('end', () => resolve({ status, body: text }));
      stream.on('error', reject);
      stream.end(body);
    });
  }

  /** Writes `parts` to a raw TCP connection with a pause between them; resolves with everything read until the server closes. */
  function raw(port: number, parts: readonly string[], onData?: (text: string) => void): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = netConnect(port, '127.0.0.1');
      let text = '';
      socket.setEncoding('utf8').on('data', (d: string) => {
        text += d;
        onData?.(text);
      });
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
      void (async () => {
        for (const part of parts) {
          socket.write(part);
          await new Promise((r) => setTimeout(r, 30));
        }
      })();
    });
  }

  it('serves HTTP/1.1 and h2c on one port with the same handler', async () => {
    const server = await listen(echo);
    expect(server.address.port).toBe(server.port);
    expect(await http1(server.port, { method: 'POST', body: 'one' })).toEqual({ status: 200, body: '1.1 POST one' });
    const session = h2(server.port);
    expect(await h2Request(session, 'two')).toEqual({ status: 200, body: '2.0 POST two' });
    expect(await h2Request(session)).toEqual({ status: 200, body: '2.0 GET ' });
  });

  it('hands bytes read while undecided to the HTTP/1.1 parser', async () => {
    const server = await listen(echo);
    // "P" is a prefix of the HTTP/2 preface: the sniffer must buffer it and push it back.
    const reply = await raw(server.port, ['P', 'U', 'T / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\n', 'abc']);
    expect(reply).toMatch(/^HTTP\/1\.1 200 /);
    expect(reply).toContain('1.1 PUT abc');
  });

  it('raises the HTTP/2 stream and connection windows', async () => {
    const server = await listen(echo);
    const session = h2(server.port);
    await new Promise<void>((resolve) => session.once('remoteSettings', () => resolve()));
    expect(session.remoteSettings.initialWindowSize).toBe(16 * MiB);
    // The connection window arrives as a WINDOW_UPDATE right after the settings; a ping's answer comes after it.
    await new Promise<void>((resolve, reject) => session.ping((err) => (err === null ? resolve() : reject(err))));
    expect(session.state.remoteWindowSize).toBe(32 * MiB);
  });

  it('answers Expect: 100-continue itself by default, and leaves it to checkContinue when given', async () => {
    const request = 'PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n';
    const plain = await listen(echo);
    expect(await raw(plain.port, [request, 'ok'])).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 [^]*1\.1 PUT ok$/);

    const refusing = await listen(echo, {
      checkContinue: (_req, res) => {
        res.writeHead(403, { connection: 'close' });
        res.end();
      },
    });
    // The body is never sent: the answer must come without it.
    expect(await raw(refusing.port, [request])).toMatch(/^HTTP\/1\.1 403 /);
  });

  it('keeps a paused HTTP/1.1 request body from being read ahead, on a new connection too', async () => {
    // The handover resumes the socket, and a pause of the request within that tick (its body filling the
    // buffer while the handler is not reading yet) left the socket paused but its handle reading: Node
    // then read the whole body into memory, however long the handler paused (2 of 3 new connections).
    const size = 64 * MiB;
    let maxBuffered = 0;
    const server = await listen((req, res) => {
      let read = 0;
      let stalled = false;
      req.pause();
      setTimeout(() => {
        req.on('data', (chunk: Buffer) => {
          maxBuffered = Math.max(maxBuffered, req.readableLength);
          read += chunk.byteLength;
          if (!stalled && read >= MiB) {
            // A slow consumer (a disk flushing its cache): the client must wait, not fill our memory.
            stalled = true;
            req.pause();
            setTimeout(() => req.resume(), 300);
          }
        });
        req.on('end', () => res.end(String(read)));
        req.resume();
      }, 50);
    });
    for (let connection = 0; connection < 6; connection++) {
      const answered = await putStream(`http://127.0.0.1:${server.port}/`, size, createHash('sha256'), { agent: false });
      expect(answered).toEqual({ status: 200, body: String(size) });
    }
    // Node's own buffering: the request's high-water mark plus one read; the bug buffered 40–60 MiB here.
    expect(maxBuffered).toBeLessThan(4 * MiB);
  }, 60_000);

  it('closes idle keep-alive connections at once and lets in-flight requests finish', async () => {
    let release: () => void = () => undefined;
    const postArrived = createDeferred<void>();
    const server = await listen((req, res) => {
      if (req.url === '/' && req.method === 'POST') {
        release = () => res.end('late');
        postArrived.resolve();
        return;
      }
      res.end('now');
    });
    const agent = new Agent({ keepAlive: true });
    open.push({ close: () => agent.destroy() });
    expect((await http1(server.port, { agent })).body).toBe('now');
    const session = h2(server.port);
    await h2Request(session);

    const inFlight = http1(server.port, { method: 'POST' });
    await postArrived.promise;
    const started = performance.now();
    const closed = server.close(10_000);
    await new Promise((r) => setTimeout(r, 100));
    release();
    expect(await inFlight).toEqual({ status: 200, body: 'late' });
    await closed;
    // The idle HTTP/1.1 connection and the HTTP/2 session did not hold close until the grace (10 s) ran out.
    expect(performance.now() - started).toBeLessThan(8_000);
    await expect(http1(server.port)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('destroys what is still open when the grace period ends; close is idempotent', async () => {
    const requestArrived = createDeferred<void>();
    const server = await listen(() => requestArrived.resolve());
    const hung = http1(server.port);
    await requestArrived.promise;
    const started = performance.now();
    const first = server.close(100);
    expect(server.close(100)).toBe(first);
    await first;
    // Bounded by the grace (100 ms), not by the hung request; the margin is for a busy machine.
    expect(performance.now() - started).toBeLessThan(5_000);
    await expect(hung).rejects.toMatchObject({ code: 'ECONNRESET' });
  });
});
