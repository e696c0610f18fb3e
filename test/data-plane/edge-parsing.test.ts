// Pure parsers of the data plane's edge: Range, Content-Range, If-None-Match, route matching,
// configuration, and the one error mapping. (The h2c preface sniffer is tested in test/net/.)
import type { IncomingMessage } from 'node:http';
import { Code, ConnectError } from '@connectrpc/connect';
import { describe, expect, it } from 'vitest';
import { normalizeRelativePath, RelativePathError } from '../../core/paths/relative-path.ts';
import { classifyError, toConnectError } from '../../data-plane/errors/classify-error.ts';
import { DataPlaneError } from '../../data-plane/errors/data-plane-error.ts';
import { ifNoneMatchMatches } from '../../core/net/if-none-match.ts';
import { chunkContentRange, parseRange } from '../../data-plane/http/headers.ts';
import { matchByteRoute } from '../../data-plane/http/route-match.ts';
import { IngestError } from '../../data-plane/ingest/ingest-error.ts';
import { parseDataPlaneConfig } from '../../data-plane/main.ts';
import { StorageError } from '../../data-plane/storage/errors.ts';

const req = (headers: Record<string, string>): IncomingMessage => ({ headers }) as unknown as IncomingMessage;

describe('parseRange', () => {
  it.each([
    [undefined, 10, { kind: 'full' }],
    ['bytes=0-0', 10, { kind: 'partial', start: 0, end: 0 }],
    ['bytes=2-', 10, { kind: 'partial', start: 2, end: 9 }],
    ['bytes=-3', 10, { kind: 'partial', start: 7, end: 9 }],
    ['bytes=-30', 10, { kind: 'partial', start: 0, end: 9 }],
    ['bytes=5-100', 10, { kind: 'partial', start: 5, end: 9 }],
    ['bytes=10-', 10, { kind: 'unsatisfiable' }],
    ['bytes=10-12', 10, { kind: 'unsatisfiable' }],
    ['bytes=-0', 10, { kind: 'unsatisfiable' }],
    ['bytes=0-', 0, { kind: 'unsatisfiable' }],
    ['bytes=-5', 0, { kind: 'unsatisfiable' }],
    ['bytes=3-1', 10, { kind: 'full' }],
    ['bytes=0-1,3-4', 10, { kind: 'full' }],
    // RFC 9110: positions are 1*DIGIT, so leading zeros and numbers of any length are valid.
    ['bytes=01-2', 10, { kind: 'partial', start: 1, end: 2 }],
    ['bytes=0000-0009', 10, { kind: 'partial', start: 0, end: 9 }],
    ['bytes=1234567890123456-', 10, { kind: 'unsatisfiable' }],
    ['bytes=99999999999999999999999-', 10, { kind: 'unsatisfiable' }],
    ['bytes=4-18446744073709551615', 10, { kind: 'partial', start: 4, end: 9 }],
    ['bytes=-18446744073709551615', 10, { kind: 'partial', start: 0, end: 9 }],
    ['bytes=100000000000000000001-100000000000000000000', 10, { kind: 'full' }],
    ['bytes=100000000000000000000-100000000000000000001', 10, { kind: 'unsatisfiable' }],
    ['bytes=-', 10, { kind: 'full' }],
    ['bytes=1-2-3', 10, { kind: 'full' }],
    ['pages=1-2', 10, { kind: 'full' }],
  ] as const)('%s of %i bytes', (value, size, expected) => {
    expect(parseRange(value, size)).toEqual(expected);
  });
});

describe('chunkContentRange', () => {
  it('accepts a range that matches Content-Length', () => {
    expect(chunkContentRange(req({ 'content-range': 'bytes 10-19/100', 'content-length': '10' }))).toEqual({ start: 10, length: 10, total: 100 });
    expect(chunkContentRange(req({ 'content-range': 'bytes 0-0/*', 'content-length': '1' }))).toEqual({ start: 0, length: 1, total: undefined });
  });
  it.each([
    [{ 'content-length': '1' }],
    [{ 'content-range': 'bytes 0-9/100' }],
    [{ 'content-range': 'bytes 0-9/100', 'content-length': '9' }],
    [{ 'content-range': 'bytes 0-9/9', 'content-length': '10' }],
    [{ 'content-range': 'bytes 9-0/100', 'content-length': '10' }],
    [{ 'content-range': 'bytes -1-9/100', 'content-length': '11' }],
    [{ 'content-range': 'bytes 0-9/100 ', 'content-length': '10' }],
    [{ 'content-range': 'bytes */100', 'content-length': '0' }],
    [{ 'content-range': 'bytes 0-9/100', 'content-length': '1e1' }],
  ])('refuses %j', (headers) => {
    expect(() => chunkContentRange(req(headers))).toThrow(DataPlaneError);
  });
});

describe('ifNoneMatchMatches', () => {
  const etag = '"blake3:ab"';
  it('uses weak comparison and lists', () => {
    expect(ifNoneMatchMatches(etag, etag)).toBe(true);
    expect(ifNoneMatchMatches('W/"blake3:ab"', etag)).toBe(true);
    expect(ifNoneMatchMatches('"x", "blake3:ab"', etag)).toBe(true);
    expect(ifNoneMatchMatches('*', etag)).toBe(true);
    expect(ifNoneMatchMatches('"blake3:ac"', etag)).toBe(false);
    expect(ifNoneMatchMatches('blake3:ab', etag)).toBe(false);
    expect(ifNoneMatchMatches(undefined, etag)).toBe(false);
  });
});

describe('matchByteRoute', () => {
  it('decodes segments one by one', () => {
    expect(matchByteRoute('/packages/pkg_1/files/a%20b/c.txt?replace=true').route).toEqual({ name: 'package-file', packageId: 'pkg_1', relativePath: 'a b/c.txt' });
    expect(matchByteRoute('/files/file_1/download').route).toEqual({ name: 'file-download', fileId: 'file_1' });
    expect(matchByteRoute('/uploads/upload_1/complete').route).toEqual({ name: 'upload-complete', uploadId: 'upload_1' });
    expect(matchByteRoute('/uploads').route).toEqual({ name: 'uploads' });
    expect(matchByteRoute('/other').route).toBeUndefined();
  });
  it.each(['../a', '%2e%2e/a', 'a/%2E%2E', 'a%2fb', 'a%5cb', 'a%00b', '.', 'a//b', ''])('refuses the path %j', (path) => {
    expect(() => matchByteRoute(`/packages/p/files/${path}`)).toThrow();
  });
  it.each([
    ['a C1 control (NEL)', 'a\u0085b.txt'],
    ['a C1 control (CSI)', 'x\u009b31mred.txt'],
    ['a right-to-left override', 'evil\u202etxt.exe'],
    ['a first-strong isolate', 'a\u2068b'],
    ['an arabic letter mark', 'a\u061cb'],
  ])('refuses a package path with %s', (_name, path) => {
    expect(() => normalizeRelativePath(path)).toThrow(RelativePathError);
  });
  it('keeps other non-ASCII names', () => {
    expect(normalizeRelativePath('caf\u0065\u0301/\u00fcber \u65e5\u672c.txt')).toBe('caf\u00e9/\u00fcber \u65e5\u672c.txt');
  });
  it('refuses malformed ids', () => {
    expect(() => matchByteRoute('/files/a%2Fb/download')).toThrow(DataPlaneError);
  });
});

describe('parseDataPlaneConfig', () => {
  it('applies defaults and flags over the environment', () => {
    const config = parseDataPlaneConfig({ ARTIFACTSTORE_DATA_DIR: '/data', ARTIFACTSTORE_DATA_PLANE_LISTEN: '0.0.0.0:9000' }, ['--control-plane', 'http://cp:8000/']);
    expect(config).toMatchObject({ controlPlaneUrl: 'http://cp:8000', host: '0.0.0.0', port: 9000, internalToken: { file: '/data/internal-token' }, storageRoot: '/data/objects' });
    const flags = parseDataPlaneConfig({ ARTIFACTSTORE_INTERNAL_TOKEN: 't', ARTIFACTSTORE_STORAGE_ROOT: '/s' }, ['--listen', '[::1]:8001']);
    expect(flags).toMatchObject({ controlPlaneUrl: 'http://127.0.0.1:8000', host: '::1', port: 8001, internalToken: { value: 't' }, storageRoot: '/s' });
  });
  it('reads the upload sweep interval in seconds; 0 turns the sweep off', () => {
    expect(parseDataPlaneConfig({}, []).uploadSweepIntervalMs).toBe(600_000);
    expect(parseDataPlaneConfig({ ARTIFACTSTORE_UPLOAD_SWEEP_INTERVAL: '30' }, []).uploadSweepIntervalMs).toBe(30_000);
    expect(parseDataPlaneConfig({ ARTIFACTSTORE_UPLOAD_SWEEP_INTERVAL: '0' }, []).uploadSweepIntervalMs).toBe(0);
  });
  it.each([
    [{ ARTIFACTSTORE_CONTROL_PLANE_URL: 'nope' }, [], /ARTIFACTSTORE_CONTROL_PLANE_URL/],
    [{}, ['--control-plane', 'ftp://x'], /--control-plane/],
    [{ ARTIFACTSTORE_DATA_PLANE_LISTEN: '8001' }, [], /ARTIFACTSTORE_DATA_PLANE_LISTEN/],
    [{}, ['--listen', 'h:99999'], /--listen/],
    [{ ARTIFACTSTORE_MAX_UPLOAD_BYTES: '10MB' }, [], /ARTIFACTSTORE_MAX_UPLOAD_BYTES/],
    [{ ARTIFACTSTORE_UPLOAD_SWEEP_INTERVAL: '10m' }, [], /ARTIFACTSTORE_UPLOAD_SWEEP_INTERVAL must be a whole number of seconds/],
    [{ ARTIFACTSTORE_UPLOAD_SWEEP_INTERVAL: '-1' }, [], /ARTIFACTSTORE_UPLOAD_SWEEP_INTERVAL/],
    [{}, ['--bogus'], /bogus/],
  ] as const)('names the bad key (%j %j)', (env, args, message) => {
    expect(() => parseDataPlaneConfig(env, [...args])).toThrow(message);
  });
});

describe('classifyError', () => {
  it('maps each error type to status, Connect code and stable code', () => {
    expect(classifyError(new IngestError('digest-mismatch', 'x'))).toMatchObject({ status: 422, code: 'digest-mismatch', connectCode: Code.InvalidArgument });
    expect(classifyError(new RelativePathError('x'))).toMatchObject({ status: 400, code: 'invalid-path' });
    expect(classifyError(new StorageError('unavailable', '/secret/path'))).toMatchObject({ status: 503, code: 'storage-unavailable', detail: 'Storage unavailable' });
    expect(classifyError(new DataPlaneError('offset-mismatch', 'x', { facts: { uploadOffset: 5 } }))).toMatchObject({ status: 416, facts: { uploadOffset: 5 } });
    const fromControlPlane = new ConnectError('[not-found] package not found', Code.NotFound, { 'artifactstore-reason': 'not-found' });
    expect(classifyError(fromControlPlane)).toMatchObject({ status: 404, code: 'not-found', detail: 'package not found' });
    // Raised by our own client transport (not a wire error): the control plane was not reached.
    for (const code of [Code.Unavailable, Code.Aborted, Code.DeadlineExceeded]) {
      expect(classifyError(new ConnectError('socket hang up', code))).toMatchObject({ status: 503, code: 'control-plane-unavailable' });
    }
    const answered = new ConnectError('[failed-precondition] package is finalized', Code.FailedPrecondition, { 'artifactstore-reason': 'failed-precondition' });
    answered.isWireError = true;
    expect(classifyError(answered)).toMatchObject({ status: 409, code: 'failed-precondition', detail: 'package is finalized' });
    expect(classifyError(new Error('boom at /etc'))).toMatchObject({ status: 500, code: 'internal', detail: 'internal error' });
  });
  it('keeps the original as cause and the code in metadata for RPCs', () => {
    const original = new IngestError('too-large', 'too big');
    const error = toConnectError(original);
    expect(error.code).toBe(Code.ResourceExhausted);
    expect(error.metadata.get('artifactstore-reason')).toBe('too-large');
    expect(error.cause).toBe(original);
  });
});
