/**
 * The `http-download-ceiling` reference: a bare `node:http` server in the bench process that streams one
 * file the way the data plane does (1 MiB reads into two reused buffers, one read ahead, each write's
 * callback awaited), with nothing else: no routing, authorization, control-plane lookup or storage
 * layers. Read by the same client, it is what Node itself reaches on this machine, measured in the same
 * run as the service.
 */
import { createServer, type Server } from 'node:http';
import { open } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';

const READ_BYTES = 1024 * 1024;

/** A running server; `url` serves the file at `path`. */
export interface PlainFileServer {
  readonly url: string;
  close(): Promise<void>;
}

/** Serves `path` at `/` until closed. */
export async function startPlainFileServer(path: string): Promise<PlainFileServer> {
  const server: Server = createServer((req, res) => {
    void (async () => {
      const handle = await open(path);
      try {
        const { size } = await handle.stat();
        res.writeHead(200, { 'content-length': size, 'content-type': 'application/octet-stream' });
        const buffers = [Buffer.allocUnsafeSlow(READ_BYTES), Buffer.allocUnsafeSlow(READ_BYTES)];
        let position = 0;
        let turn = 0;
        const readNext = (): Promise<Buffer> => {
          const buffer = buffers[turn++ % 2] as Buffer;
          const wanted = Math.min(READ_BYTES, size - position);
          const at = position;
          position += wanted;
          return handle.read(buffer, 0, wanted, at).then(({ bytesRead }) => buffer.subarray(0, bytesRead));
        };
        let pending = size > 0 ? readNext() : undefined;
        while (pending !== undefined) {
          const chunk = await pending;
          pending = position < size ? readNext() : undefined;
          await new Promise<void>((resolve, reject) => res.write(chunk, (error) => (error ? reject(error) : resolve())));
        }
        res.end();
      } finally {
        await handle.close();
      }
    })().catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
