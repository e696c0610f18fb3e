/**
 * The `http-ingest-ceiling` reference: a bare `node:http` server that receives a PUT body and only counts
 * it, with nothing else: no hashing, storage, routing, authorization or control-plane calls. Sent the
 * same bytes by the same client as `http-ingest`, it is what a node:http server takes in on this machine,
 * measured in the same run as the service; a service that must also hash every byte twice and store it
 * cannot be faster.
 *
 * It runs on a worker thread of the bench process, so it has an event loop and a core's worth of
 * scheduling of its own, as the data plane's process has, and does not share the client's thread.
 * Plain JavaScript evaluated in the worker: the bench's TypeScript loader does not reach worker threads.
 */
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';

const SERVER_SOURCE = `
const { createServer } = require('node:http');
const { parentPort } = require('node:worker_threads');
const server = createServer({ requestTimeout: 0 }, (req, res) => {
  let received = 0;
  req.on('data', (part) => { received += part.byteLength; });
  req.on('end', () => {
    res.writeHead(201, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ bytes: received }));
  });
});
server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));
`;

/** A running server; a PUT to `url` answers 201 with `{"bytes": <count>}`. */
export interface PlainIngestServer {
  readonly url: string;
  close(): Promise<void>;
}

/** Starts the server on a new worker thread; resolves once it listens. */
export async function startPlainIngestServer(): Promise<PlainIngestServer> {
  const worker = new Worker(SERVER_SOURCE, { eval: true });
  const [port] = (await once(worker, 'message')) as [number];
  return {
    url: `http://127.0.0.1:${port}/`,
    close: async () => {
      await worker.terminate();
    },
  };
}
