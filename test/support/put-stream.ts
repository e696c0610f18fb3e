// A streamed PUT for tests: `size` bytes generated on the fly and written with backpressure, each MiB
// different, fed to a hash as they are sent. Used by the data-plane process tests (as tenant A) and by the
// listener's backpressure test (on a new connection each time).
import { randomBytes, type Hash } from 'node:crypto';
import { request as httpRequest, type Agent } from 'node:http';

const MiB = 1024 * 1024;

/** Options of {@link putStream}. */
export interface PutStreamOptions {
  readonly headers?: Readonly<Record<string, string>>;
  /** The connection's agent; `false` for a new connection (default: Node's global agent). */
  readonly agent?: Agent | false;
  /** Waits for `until()` once `bytes` are sent. */
  readonly pauseAt?: { readonly bytes: number; readonly until: () => Promise<void> };
}

/** PUTs `size` bytes to `url`, feeding them to `sha`; resolves with the status and the response body. */
export function putStream(url: string, size: number, sha: Hash, options: PutStreamOptions = {}): Promise<{ status: number; body: string }> {
  const target = new URL(url);
  const { pauseAt } = options;
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: target.hostname, port: target.port, path: target.pathname, method: 'PUT', headers: { ...options.headers, 'content-length': String(size) }, ...(options.agent === undefined ? {} : { agent: options.agent }) },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    const block = randomBytes(MiB);
    let sent = 0;
    let paused = false;
    const pump = (): void => {
      while (sent < size) {
        if (pauseAt !== undefined && !paused && sent >= pauseAt.bytes) {
          paused = true;
          pauseAt.until().then(pump, (e: unknown) => req.destroy(e as Error));
          return;
        }
        const chunk = Buffer.from(block.subarray(0, Math.min(MiB, size - sent)));
        if (chunk.byteLength >= 4) chunk.writeUInt32LE(sent / MiB, 0); // every MiB differs
        sha.update(chunk);
        sent += chunk.byteLength;
        if (!req.write(chunk)) {
          req.once('drain', pump);
          return;
        }
      }
      req.end();
    };
    pump();
  });
}
