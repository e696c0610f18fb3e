/**
 * Matches the raw request target of a byte route. The path is split on `/` before percent-decoding,
 * each segment is decoded on its own, and a segment that decodes to something containing `/` (an
 * encoded slash) is refused: `a%2Fb` must not become two segments after the fact. Dot segments are never
 * resolved; `..` (however encoded) reaches `normalizeRelativePath`, which refuses it.
 */
import { normalizeRelativePath, RelativePathError } from '../../core/paths/relative-path.ts';
import { DataPlaneError } from '../errors/data-plane-error.ts';

/** A matched byte route and its decoded parameters. */
export type ByteRoute =
  | { readonly name: 'package-file'; readonly packageId: string; readonly relativePath: string }
  | { readonly name: 'package-files'; readonly packageId: string }
  | { readonly name: 'package-archive'; readonly packageId: string }
  | { readonly name: 'file-download'; readonly fileId: string }
  | { readonly name: 'uploads' }
  | { readonly name: 'upload'; readonly uploadId: string }
  | { readonly name: 'upload-complete'; readonly uploadId: string }
  | { readonly name: 'health' }
  | { readonly name: 'metrics' };

/** Methods each route answers (for 405 and `Allow`). */
export const ROUTE_METHODS: Record<ByteRoute['name'], readonly string[]> = {
  'package-file': ['GET', 'HEAD', 'PUT'],
  'package-files': ['POST'],
  'package-archive': ['GET', 'POST'],
  'file-download': ['GET', 'HEAD'],
  uploads: ['POST'],
  upload: ['HEAD', 'PATCH', 'DELETE'],
  'upload-complete': ['POST'],
  health: ['GET', 'HEAD'],
  metrics: ['GET'],
};

/** A request target split into path and query. */
export interface RequestTarget {
  readonly route: ByteRoute | undefined;
  readonly query: URLSearchParams;
}

/** True for paths the byte routes own (everything else belongs to the RPC router). */
export function isBytePath(rawUrl: string): boolean {
  return /^\/(packages|files|uploads|healthz|metrics)(\/|\?|$)/.test(rawUrl);
}

/** Matches `rawUrl` (`req.url`); undefined route when nothing matches. Bad encodings throw. */
export function matchByteRoute(rawUrl: string): RequestTarget {
  const q = rawUrl.indexOf('?');
  const path = q === -1 ? rawUrl : rawUrl.slice(0, q);
  const query = new URLSearchParams(q === -1 ? '' : rawUrl.slice(q + 1));
  const raw = path.split('/').slice(1);
  const [first, second, third] = raw;
  const n = raw.length;
  if (first === 'healthz' && n === 1) return { route: { name: 'health' }, query };
  if (first === 'metrics' && n === 1) return { route: { name: 'metrics' }, query };
  if (first === 'packages' && third === 'files' && n === 3 && second !== undefined) return { route: { name: 'package-files', packageId: idSegment(second, 'package id') }, query };
  if (first === 'packages' && third === 'archive' && n === 3 && second !== undefined) return { route: { name: 'package-archive', packageId: idSegment(second, 'package id') }, query };
  if (first === 'packages' && third === 'files' && n >= 4 && second !== undefined) {
    return { route: { name: 'package-file', packageId: idSegment(second, 'package id'), relativePath: relativePathOf(raw.slice(3)) }, query };
  }
  if (first === 'files' && n === 3 && second !== undefined && third === 'download') return { route: { name: 'file-download', fileId: idSegment(second, 'file id') }, query };
  if (first === 'uploads') {
    if (n === 1) return { route: { name: 'uploads' }, query };
    if (n === 2 && second !== undefined) return { route: { name: 'upload', uploadId: idSegment(second, 'upload id') }, query };
    if (n === 3 && second !== undefined && third === 'complete') return { route: { name: 'upload-complete', uploadId: idSegment(second, 'upload id') }, query };
  }
  return { route: undefined, query };
}

/** `?name=true|false|1|0` (absent: false); anything else is `bad-request`. */
export function booleanParam(query: URLSearchParams, name: string): boolean {
  const value = query.get(name);
  if (value === null || value === 'false' || value === '0') return false;
  if (value === 'true' || value === '1' || value === '') return true;
  throw new DataPlaneError('bad-request', `query parameter "${name}" must be true or false`);
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new DataPlaneError('bad-request', 'the path holds a malformed percent-encoding');
  }
}

function idSegment(segment: string, what: string): string {
  const value = decode(segment);
  if (!/^[A-Za-z0-9_-]{1,128}$/.test(value)) throw new DataPlaneError('bad-request', `malformed ${what}`);
  return value;
}

function relativePathOf(rawSegments: readonly string[]): string {
  const segments = rawSegments.map(decode);
  if (segments.some((s) => s.includes('/'))) throw new RelativePathError('relative path contains an encoded "/" (%2F) inside a segment');
  return normalizeRelativePath(segments.join('/'));
}
