/**
 * Writing plain-HTTP responses: RFC 7807 problem documents for errors, built from the same
 * classification the RPCs use (services/errors.ts), and small JSON/bytes helpers.
 */
import type { ServerResponse } from 'node:http';
import type { ConnectNodeAdapterOptions } from '@connectrpc/connect-node';

type Fallback = NonNullable<ConnectNodeAdapterOptions['fallback']>;
import { toProblem, type ErrorLog, type Problem } from '../services/errors.ts';

/** A request on either HTTP version. */
export type HttpRequest = Parameters<Fallback>[0];
/** A response on either HTTP version (as the Connect adapter hands it to its fallback). */
export type HttpResponse = Parameters<Fallback>[1];

/** Sends `body` with `status` and `headers`, unless the response already started. */
export function send(res: HttpResponse, status: number, headers: Record<string, string>, body?: Uint8Array | string): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const bytes = body === undefined ? undefined : typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  res.writeHead(status, { ...headers, ...(bytes === undefined ? {} : { 'content-length': String(bytes.byteLength) }) });
  // The overloads of end() differ between http1 and http2 responses; both accept a Uint8Array.
  (res as ServerResponse).end(bytes);
}

/** Sends a JSON body. */
export function sendJson(res: HttpResponse, status: number, value: unknown, method = 'GET'): void {
  const body = `${JSON.stringify(value)}\n`;
  send(res, status, { 'content-type': 'application/json', 'cache-control': 'no-store' }, method === 'HEAD' ? undefined : body);
}

/** Sends a problem document. */
export function sendProblem(res: HttpResponse, problem: Problem, instance: string | undefined, extraHeaders: Record<string, string> = {}): void {
  const body = { ...problem, ...(instance === undefined ? {} : { instance }) };
  const auth: Record<string, string> = problem.code === 'unauthenticated' ? { 'www-authenticate': 'Bearer realm="artifact-store"' } : {};
  send(res, problem.status, { 'content-type': 'application/problem+json', 'cache-control': 'no-store', ...auth, ...extraHeaders }, `${JSON.stringify(body)}\n`);
}

/** Sends whatever `err` is as a problem document (unexpected errors are logged, not described). */
export function sendError(res: HttpResponse, err: unknown, log: ErrorLog, instance?: string): void {
  sendProblem(res, toProblem(err, log), instance);
}
