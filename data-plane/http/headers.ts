/**
 * Parsers for the request headers the byte routes read. Each is strict: input that is not exactly
 * the documented form is refused (or, for `Range`, ignored as RFC 9110 asks), never guessed at.
 */
import { DataPlaneError } from '../errors/data-plane-error.ts';
import { header, type HttpRequest } from './http-io.ts';

/** Header carrying the client's expected SHA-256 (`sha256:<hex>`). */
export const SHA256_HEADER = 'x-artifact-sha256';
/** Header carrying the client's expected BLAKE3 (`blake3:<hex>`). */
export const BLAKE3_HEADER = 'x-artifact-blake3';

// At most 15 digits: every such number is a safe integer, and 10^15 bytes is far past any upload.
const COUNT = '(0|[1-9]\\d{0,14})';

/** The bearer token of `Authorization: Bearer <token>`, or `''` when there is none. */
export function bearerToken(req: HttpRequest): string {
  const value = header(req, 'authorization');
  if (value === undefined) return '';
  const match = /^Bearer +([\x21-\x7e]+)$/i.exec(value);
  if (match === null) throw new DataPlaneError('bad-request', 'Authorization must be "Bearer <token>"');
  return match[1] ?? '';
}

/** `Content-Length` as a number, undefined when absent; malformed → `bad-request`. */
export function contentLength(req: HttpRequest): number | undefined {
  const value = header(req, 'content-length');
  if (value === undefined) return undefined;
  if (!new RegExp(`^${COUNT}$`).test(value)) throw new DataPlaneError('bad-request', 'Content-Length must be a non-negative integer');
  return Number(value);
}

/** A parsed `Content-Range: bytes a-b/total` (or `/*`) of a chunk upload. */
export interface ContentRange {
  readonly start: number;
  /** Bytes in the chunk, `b - a + 1`. */
  readonly length: number;
  readonly total: number | undefined;
}

/**
 * Parses the `Content-Range` of a PATCH and checks it against `Content-Length`, which must be present
 * and equal the range's length. `bytes *\/total` (no bytes) and an end before the start are refused,
 * as is an end at or past a numeric total.
 */
export function chunkContentRange(req: HttpRequest): ContentRange {
  const value = header(req, 'content-range');
  if (value === undefined) throw new DataPlaneError('invalid-content-range', 'Content-Range is required: bytes <first>-<last>/<total or *>');
  const match = new RegExp(`^bytes ${COUNT}-${COUNT}/(${COUNT.slice(1, -1)}|\\*)$`).exec(value);
  if (match === null) throw new DataPlaneError('invalid-content-range', `Content-Range must be "bytes <first>-<last>/<total or *>", got ${JSON.stringify(value.slice(0, 100))}`);
  const start = Number(match[1]);
  const last = Number(match[2]);
  const total = match[3] === '*' ? undefined : Number(match[3]);
  if (last < start) throw new DataPlaneError('invalid-content-range', 'Content-Range ends before it starts');
  if (total !== undefined && last >= total) throw new DataPlaneError('invalid-content-range', 'Content-Range ends at or past the total size');
  const length = last - start + 1;
  const declared = contentLength(req);
  if (declared === undefined) throw new DataPlaneError('invalid-content-range', 'Content-Length is required with Content-Range');
  if (declared !== length) throw new DataPlaneError('invalid-content-range', `Content-Length ${declared} differs from the ${length} bytes Content-Range declares`);
  return { start, length, total };
}

/** What a `Range` header asks of an object of known size. */
export type RangeRequest =
  | { readonly kind: 'full' }
  | { readonly kind: 'partial'; readonly start: number; readonly end: number /* inclusive */ }
  | { readonly kind: 'unsatisfiable' };

/**
 * Interprets `Range` for an object of `size` bytes. One range only: a multi-range request gets the
 * whole object (200), which RFC 9110 §14.2 allows, because multipart/byteranges responses are rarely
 * wanted for evidence files and complicate streaming. Syntactically invalid headers and other units
 * are ignored (200). A range starting at or past the end, or a zero-length suffix, is unsatisfiable (416).
 */
export function parseRange(value: string | undefined, size: number): RangeRequest {
  if (value === undefined) return { kind: 'full' };
  // RFC 9110 §14.1.2: positions are 1*DIGIT, leading zeros and all. Any length is read: a number past
  // every safe integer is past every object (MAX_POSITION), so a start that far is unsatisfiable and an
  // end or suffix that far reaches the end. (Bounded only to keep a hostile header's regex work small.)
  const match = /^bytes=(?:(\d{1,4096})-(\d{1,4096})?|-(\d{1,4096}))$/.exec(value.trim());
  if (match === null) return { kind: 'full' };
  const [, first, last, suffix] = match;
  if (suffix !== undefined) {
    const n = position(suffix);
    if (n === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'partial', start: Math.max(0, size - n), end: size - 1 };
  }
  const start = position(first ?? '');
  // An end before the start makes the header invalid, which is ignored (compared as digits, exactly).
  if (last !== undefined && compareDigits(last, first ?? '') < 0) return { kind: 'full' };
  if (start >= size) return { kind: 'unsatisfiable' };
  const end = last === undefined ? size - 1 : position(last);
  return { kind: 'partial', start, end: Math.min(end, size - 1) };
}

/** Past any object's last byte: what a position of more digits than a safe integer has stands for. */
const MAX_POSITION = Number.MAX_SAFE_INTEGER;

/** A byte position written in decimal digits, capped at MAX_POSITION. */
function position(digits: string): number {
  const significant = digits.replace(/^0+(?=\d)/, '');
  return significant.length > 15 ? MAX_POSITION : Math.min(MAX_POSITION, Number(significant));
}

/** Compares two decimal digit strings by value (any length, leading zeros allowed). */
function compareDigits(a: string, b: string): number {
  const x = a.replace(/^0+(?=\d)/, '');
  const y = b.replace(/^0+(?=\d)/, '');
  if (x.length !== y.length) return x.length - y.length;
  return x < y ? -1 : x > y ? 1 : 0;
}

/** True when an `If-Range` header allows the range: absent, or exactly the (strong) current ETag. */
export function ifRangeAllows(value: string | undefined, etag: string): boolean {
  return value === undefined || value.trim() === etag;
}

/** The expected digests a client sent in headers (checked later by ingest; shape errors are ingest's too). */
export function expectedDigestHeaders(req: HttpRequest): { sha256?: string; blake3?: string } {
  const sha256 = header(req, SHA256_HEADER);
  const blake3 = header(req, BLAKE3_HEADER);
  return { ...(sha256 === undefined ? {} : { sha256: sha256.trim() }), ...(blake3 === undefined ? {} : { blake3: blake3.trim() }) };
}
