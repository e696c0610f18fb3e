import { describe, expect, it } from 'vitest';
import { encodeManifest } from '../../core/manifest/codec.ts';
import { manifestToJcs } from '../../core/manifest/jcs.ts';
import { ManifestError, type Manifest, type ManifestErrorCode } from '../../core/manifest/manifest.ts';
import { MAX_JSON_DEPTH, validateManifest } from '../../core/manifest/validate.ts';
import { loadGolden } from './golden.ts';

const typical = loadGolden('typical');

type Loose = Record<string, unknown>;
type Draft = {
  manifest_version: unknown;
  package: Loose & { metadata: Loose };
  files: (Loose & { digests: Loose })[];
  storage_receipts: Loose[];
  retention_summary: Loose;
  provenance: Loose;
  [extra: string]: unknown;
};

/** A mutable deep copy of the typical golden manifest, edited by `edit`. */
function variant(edit: (m: Draft) => void): unknown {
  const m = structuredClone(typical.input) as Draft;
  edit(m);
  return m;
}

function nest(depth: number): unknown {
  let v: unknown = 'leaf';
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

class Point {
  x = 1;
}

const blake3Of = (i: number): string => typical.manifest.files[i]?.digests.blake3 ?? '';

// Every rule, with the error code and the exact path it must report. Encoders run the same rules,
// so each case is checked through validateManifest, encodeManifest and manifestToJcs alike.
const invalid: [string, unknown, ManifestErrorCode, string][] = [
  ['null', null, 'invalid-manifest', '$'],
  ['a class instance at the top', new Point(), 'invalid-manifest', '$'],
  ['manifest_version 2', variant((m) => void (m.manifest_version = 2)), 'unsupported-version', '$.manifest_version'],
  ['manifest_version "1"', variant((m) => void (m.manifest_version = '1')), 'invalid-manifest', '$.manifest_version'],
  ['an unknown top-level field', variant((m) => void (m.extra = 1)), 'invalid-manifest', '$.extra'],
  ['unknown fields reported in sorted order', variant((m) => void Object.assign(m, { zz: 1, aa: 1 })), 'invalid-manifest', '$.aa'],
  ['an odd unknown key, quoted in the path', variant((m) => void (m['a b'] = 1)), 'invalid-manifest', '$["a b"]'],
  ['a missing field', variant((m) => void delete (m as Loose).provenance), 'invalid-manifest', '$.provenance'],
  ['a field set to undefined', variant((m) => void (m.package.subject = undefined)), 'invalid-manifest', '$.package.subject'],
  ['a package status (not part of v1)', variant((m) => void (m.package.status = 'finalized')), 'invalid-manifest', '$.package.status'],
  ['an empty tenant', variant((m) => void (m.package.tenant = '')), 'invalid-manifest', '$.package.tenant'],
  ['a control character in producer', variant((m) => void (m.package.producer = 'ci\nfake log line')), 'invalid-manifest', '$.package.producer'],
  ['a numeric package_id', variant((m) => void (m.package.package_id = 7)), 'invalid-manifest', '$.package.package_id'],
  ['a timestamp without milliseconds', variant((m) => void (m.package.created_at = '2026-11-23T10:34:00Z')), 'invalid-manifest', '$.package.created_at'],
  ['a timestamp with an offset', variant((m) => void (m.package.finalized_at = '2026-11-23T11:34:00.000+01:00')), 'invalid-manifest', '$.package.finalized_at'],
  ['an impossible date', variant((m) => void (m.package.created_at = '2026-02-30T00:00:00.000Z')), 'invalid-manifest', '$.package.created_at'],
  ['metadata as an array', variant((m) => void (m.package.metadata = [] as unknown as Loose)), 'invalid-manifest', '$.package.metadata'],
  ['NaN in metadata', variant((m) => void (m.package.metadata.x = NaN)), 'invalid-manifest', '$.package.metadata.x'],
  ['Infinity in metadata', variant((m) => void (m.package.metadata.x = -Infinity)), 'invalid-manifest', '$.package.metadata.x'],
  ['-0 in metadata', variant((m) => void (m.package.metadata.x = -0)), 'invalid-manifest', '$.package.metadata.x'],
  ['2^53 in metadata', variant((m) => void (m.package.metadata.x = 2 ** 53)), 'invalid-manifest', '$.package.metadata.x'],
  ['1e21 in provenance', variant((m) => void (m.provenance.big = 1e21)), 'invalid-manifest', '$.provenance.big'],
  ['a bigint in metadata', variant((m) => void (m.package.metadata.x = 1n)), 'invalid-manifest', '$.package.metadata.x'],
  ['undefined in a metadata array', variant((m) => void (m.package.metadata.x = [1, undefined])), 'invalid-manifest', '$.package.metadata.x[1]'],
  ['a hole in a metadata array', variant((m) => void (m.package.metadata.x = Object.assign(new Array<number>(3), { 0: 1, 2: 3 }))), 'invalid-manifest', '$.package.metadata.x[1]'],
  ['bytes in provenance', variant((m) => void (m.provenance.raw = new Uint8Array(2))), 'invalid-manifest', '$.provenance.raw'],
  ['a Date in provenance', variant((m) => void (m.provenance.when = new Date(0))), 'invalid-manifest', '$.provenance.when'],
  ['a Map in provenance', variant((m) => void (m.provenance.m = new Map())), 'invalid-manifest', '$.provenance.m'],
  ['a function in provenance', variant((m) => void (m.provenance.f = () => 1)), 'invalid-manifest', '$.provenance.f'],
  ['a lone surrogate in a metadata value', variant((m) => void (m.package.metadata.x = 'a\ud800')), 'invalid-manifest', '$.package.metadata.x'],
  ['a lone surrogate in a metadata key', variant((m) => void (m.package.metadata['\udc00'] = 1)), 'invalid-manifest', '$.package.metadata["\\udc00"]'],
  [`nesting deeper than ${MAX_JSON_DEPTH}`, variant((m) => void (m.provenance.deep = nest(MAX_JSON_DEPTH))), 'invalid-manifest', `$.provenance.deep${'[0]'.repeat(MAX_JSON_DEPTH - 1)}`],
  ['files not an array', variant((m) => void ((m as Loose).files = {})), 'invalid-manifest', '$.files'],
  ['an unknown file field', variant((m) => void (m.files[1]!.mode = 0o644)), 'invalid-manifest', '$.files[1].mode'],
  ['an empty path', variant((m) => void (m.files[0]!.relative_path = '')), 'invalid-manifest', '$.files[0].relative_path'],
  ['a NUL in a path', variant((m) => void (m.files[0]!.relative_path = 'build\0.log')), 'invalid-manifest', '$.files[0].relative_path'],
  ['an absolute path', variant((m) => void (m.files[0]!.relative_path = '/build.log')), 'invalid-manifest', '$.files[0].relative_path'],
  ['a trailing slash', variant((m) => void (m.files[0]!.relative_path = 'build/')), 'invalid-manifest', '$.files[0].relative_path'],
  ['an empty segment', variant((m) => void (m.files[1]!.relative_path = 'reports//junit.xml')), 'invalid-manifest', '$.files[1].relative_path'],
  ['a dot segment', variant((m) => void (m.files[1]!.relative_path = 'reports/./junit.xml')), 'invalid-manifest', '$.files[1].relative_path'],
  ['a dot-dot segment', variant((m) => void (m.files[1]!.relative_path = 'reports/../junit.xml')), 'invalid-manifest', '$.files[1].relative_path'],
  ['a lone surrogate in a path', variant((m) => void (m.files[0]!.relative_path = 'b\udfff')), 'invalid-manifest', '$.files[0].relative_path'],
  ['unsorted files', variant((m) => void m.files.reverse()), 'invalid-manifest', '$.files[1].relative_path'],
  ['files sorted by locale, not code units', variant((m) => void (m.files[0]!.relative_path = 'a.log', m.files[1]!.relative_path = 'B.log')), 'invalid-manifest', '$.files[1].relative_path'],
  ['a duplicate path', variant((m) => void (m.files[1]!.relative_path = 'build.log')), 'invalid-manifest', '$.files[1].relative_path'],
  ['a path that is both file and directory', variant((m) => void (m.files[1]!.relative_path = 'build.log/junit.xml')), 'invalid-manifest', '$.files[1].relative_path'],
  ['a negative size', variant((m) => void (m.files[0]!.size = -1)), 'invalid-manifest', '$.files[0].size'],
  ['a fractional size', variant((m) => void (m.files[0]!.size = 1.5)), 'invalid-manifest', '$.files[0].size'],
  ['a size of 2^53', variant((m) => void (m.files[0]!.size = 2 ** 53)), 'invalid-manifest', '$.files[0].size'],
  ['a size as text', variant((m) => void (m.files[0]!.size = '9')), 'invalid-manifest', '$.files[0].size'],
  ['a media type without subtype', variant((m) => void (m.files[0]!.media_type = 'text')), 'invalid-manifest', '$.files[0].media_type'],
  ['an upper-case media type', variant((m) => void (m.files[0]!.media_type = 'Text/Plain')), 'invalid-manifest', '$.files[0].media_type'],
  ['an empty media type', variant((m) => void (m.files[0]!.media_type = '')), 'invalid-manifest', '$.files[0].media_type'],
  ['a missing sha256', variant((m) => void delete m.files[0]!.digests.sha256), 'invalid-manifest', '$.files[0].digests.sha256'],
  ['an extra digest', variant((m) => void (m.files[0]!.digests.md5 = 'md5:00')), 'invalid-manifest', '$.files[0].digests.md5'],
  ['an unknown digest algorithm', variant((m) => void (m.files[0]!.digests.blake3 = `blake2b:${'0'.repeat(64)}`)), 'invalid-manifest', '$.files[0].digests.blake3'],
  ['digests swapped', variant((m) => void ([m.files[0]!.digests.blake3, m.files[0]!.digests.sha256] = [m.files[0]!.digests.sha256, m.files[0]!.digests.blake3])), 'invalid-manifest', '$.files[0].digests.blake3'],
  ['a short digest', variant((m) => void (m.files[0]!.digests.sha256 = 'sha256:abcd')), 'invalid-manifest', '$.files[0].digests.sha256'],
  ['a digest with whitespace', variant((m) => void (m.files[0]!.digests.sha256 = ` ${String(m.files[0]!.digests.sha256)}`)), 'invalid-manifest', '$.files[0].digests.sha256'],
  ['same blake3, different sha256', variant((m) => void (m.files[1]!.digests.blake3 = blake3Of(0))), 'invalid-manifest', '$.files[1].digests.sha256'],
  ['same content, different size', variant((m) => void (m.files[1]!.digests = { ...m.files[0]!.digests })), 'invalid-manifest', '$.files[1].size'],
  ['a receipt for content not in the manifest', variant((m) => void (m.storage_receipts[0]!.content_address = `blake3:${'0'.repeat(64)}`)), 'invalid-manifest', '$.storage_receipts[0].content_address'],
  ['a receipt with a sha256 address', variant((m) => void (m.storage_receipts[0]!.content_address = typical.manifest.files[2]?.digests.sha256)), 'invalid-manifest', '$.storage_receipts[0].content_address'],
  ['unsorted receipts by address', variant((m) => void m.storage_receipts.reverse()), 'invalid-manifest', '$.storage_receipts[1]'],
  ['unsorted receipts by backend', variant((m) => void (m.storage_receipts[3]!.backend_id = 'a-first')), 'invalid-manifest', '$.storage_receipts[3]'],
  ['a duplicate receipt', variant((m) => void (m.storage_receipts[3]!.backend_id = 'fs-primary')), 'invalid-manifest', '$.storage_receipts[3]'],
  ['an empty backend_id', variant((m) => void (m.storage_receipts[0]!.backend_id = '')), 'invalid-manifest', '$.storage_receipts[0].backend_id'],
  ['a receipt without stored_at', variant((m) => void delete m.storage_receipts[0]!.stored_at), 'invalid-manifest', '$.storage_receipts[0].stored_at'],
  ['expires_at missing rather than null', variant((m) => void delete m.retention_summary.expires_at), 'invalid-manifest', '$.retention_summary.expires_at'],
  ['expires_at as epoch milliseconds', variant((m) => void (m.retention_summary.expires_at = 0)), 'invalid-manifest', '$.retention_summary.expires_at'],
  ['negative holds', variant((m) => void (m.retention_summary.holds_active = -1)), 'invalid-manifest', '$.retention_summary.holds_active'],
  ['holds as -0', variant((m) => void (m.retention_summary.holds_active = -0)), 'invalid-manifest', '$.retention_summary.holds_active'],
  ['provenance as text', variant((m) => void ((m as Loose).provenance = 'ci')), 'invalid-manifest', '$.provenance'],
];

describe('manifest rules', () => {
  it.each(invalid)('rejects %s', (_label, value, code, path) => {
    for (const run of [validateManifest, encodeManifest, manifestToJcs]) {
      let caught: unknown;
      try {
        run(value as Manifest);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(ManifestError);
      expect(caught).toMatchObject({ code, path });
    }
  });

  const valid: [string, unknown][] = [
    ['the typical golden input', typical.input],
    [`nesting exactly ${MAX_JSON_DEPTH} deep`, variant((m) => void (m.provenance.deep = nest(MAX_JSON_DEPTH - 1)))],
    ['a null-prototype metadata object', variant((m) => void (m.package.metadata = Object.assign(Object.create(null) as Loose, { a: 1 })))],
    ['a __proto__ key, kept as an ordinary key', variant((m) => void Object.defineProperty(m.package.metadata, '__proto__', { value: { x: 1 }, enumerable: true }))],
    ['backslashes and spaces in a path (legal POSIX names)', variant((m) => void (m.files[0]!.relative_path = 'build log\\1.txt'))],
    ['control characters other than NUL in a path', variant((m) => void (m.files[0]!.relative_path = 'build\u0001.log'))],
    ['a media type with parameters', variant((m) => void (m.files[0]!.media_type = 'text/plain; charset="UTF-8"; x=Y'))],
    ['a file without any receipt', variant((m) => void m.storage_receipts.splice(0, 1))],
    ['finalized before created (policy, not format)', variant((m) => void (m.package.finalized_at = '2000-01-01T00:00:00.000Z'))],
    ['effective retention differing from the package class', variant((m) => void (m.retention_summary.retention_class = 'legal-hold'))],
  ];

  it.each(valid)('accepts %s', (_label, value) => {
    expect(() => encodeManifest(value as Manifest)).not.toThrow();
  });

  it('keeps a __proto__ key as data on the way through', () => {
    const m = validateManifest(variant((d) => void Object.defineProperty(d.package.metadata, '__proto__', { value: { x: 1 }, enumerable: true })));
    expect(Object.getPrototypeOf(m.package.metadata)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(m.package.metadata, '__proto__')?.value).toEqual({ x: 1 });
  });

  it('returns a deep-frozen copy holding only v1 fields', () => {
    const source = variant(() => undefined) as Draft;
    const m = validateManifest(source);
    expect(m).not.toBe(source);
    expect(m).toEqual(source);
    for (const part of [m, m.package, m.package.metadata, m.files, m.files[0], m.files[0]?.digests, m.storage_receipts, m.retention_summary, m.provenance]) {
      expect(Object.isFrozen(part)).toBe(true);
    }
    source.package.metadata.pipeline = 'changed later';
    expect(m.package.metadata.pipeline).toBe('release');
  });

  it('names the field in the message as well as in the path', () => {
    expect(() => encodeManifest(variant((m) => void (m.files[2]!.size = -5)) as Manifest)).toThrow(/^\$\.files\[2\]\.size: expected a non-negative safe integer, got -5$/);
  });
});
