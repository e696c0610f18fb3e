/**
 * RFC 7807 problem documents for the byte routes: `application/problem+json` with
 * `{ type, title, status, detail, code }`, where `code` is the stable reason from `classifyError`
 * (the one mapping of every error type). Facts the client needs to recover travel as headers too:
 * `Upload-Offset` and `Range: bytes=0-(n-1)` on an offset mismatch, `Content-Range: bytes *\/size` on
 * an unsatisfiable range, `Allow` on a wrong method.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import { classifyError, type ClassifiedError } from '../errors/classify-error.ts';
import { breakResponse, hasPendingBody, isHttp2, respond, type HttpRequest, type HttpResponse } from './http-io.ts';

/** Base of the `type` URI of every problem; the code is appended. */
export const PROBLEM_TYPE_BASE = 'https://artifact-store.invalid/problems/';

/** The JSON body of a problem response. */
export interface ProblemDocument {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly code: string;
}

/** The problem document for a classified error. */
export function problemDocument(classified: ClassifiedError): ProblemDocument {
  return { type: PROBLEM_TYPE_BASE + classified.code, title: classified.title, status: classified.status, detail: classified.detail, code: classified.code };
}

/**
 * Answers `error` as a problem (or, when the response has already started, breaks the transfer).
 * Server faults are logged with their cause; client errors are not.
 */
export function sendProblem(req: HttpRequest, res: HttpResponse, error: unknown, log: (line: string) => void): void {
  const classified = classifyError(error);
  if (classified.serverFault) log(`${req.method ?? '?'} ${req.url ?? '?'} failed: ${describe(error)}`);
  if (res.headersSent) {
    breakResponse(res);
    return;
  }
  const headers: OutgoingHttpHeaders = { 'content-type': 'application/problem+json', 'cache-control': 'no-store' };
  const { facts } = classified;
  if (facts.uploadOffset !== undefined) {
    headers['upload-offset'] = String(facts.uploadOffset);
    if (facts.uploadOffset > 0) headers['range'] = `bytes=0-${facts.uploadOffset - 1}`;
  }
  if (facts.size !== undefined) headers['content-range'] = `bytes */${facts.size}`;
  if (facts.allow !== undefined) headers['allow'] = facts.allow.join(', ');
  // An unread HTTP/1.1 body would be read and discarded before the next request; close instead.
  if (!isHttp2(res) && hasPendingBody(req)) headers['connection'] = 'close';
  const body = req.method === 'HEAD' ? undefined : JSON.stringify(problemDocument(classified));
  if (body === undefined) headers['content-length'] = '0';
  respond(res, classified.status, headers, body);
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? ` (cause: ${error.cause.message})` : '';
  return `${error.name}: ${error.message}${cause}`;
}
