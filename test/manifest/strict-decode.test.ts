import { describe, expect, it } from 'vitest';
import { encodeCanonical, type CborValue } from '../../core/cbor/canonical.ts';
import { decodeManifest, encodeManifest } from '../../core/manifest/codec.ts';
import { manifestDigest } from '../../core/manifest/digest.ts';
import { manifestFromJcs } from '../../core/manifest/jcs.ts';
import { ManifestError, type ManifestErrorCode } from '../../core/manifest/manifest.ts';
import { loadGolden } from './golden.ts';
import { writeCbor } from './reference-cbor.ts';

const minimal = loadGolden('minimal');
const typical = loadGolden('typical');
const numbers = loadGolden('numbers');

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const fromHex = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'hex'));
const textHex = (text: string): string => Buffer.from(text, 'utf8').toString('hex');
const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

/** Replaces the one occurrence of `from` (hex) with `to`, so each variant changes exactly what it says. */
function patch(bytes: Uint8Array, from: string, to: string): Uint8Array {
  const h = hex(bytes);
  const at = h.indexOf(from);
  if (at === -1 || at % 2 !== 0 || h.indexOf(from, at + 1) !== -1) throw new Error(`patch target ${from} is not unique`);
  return fromHex(h.slice(0, at) + to + h.slice(at + from.length));
}

/** The `blake3` key of a file's digests map, the 71-character text head, and the start of the value. */
const digestSlot = (valueStart: string): string => `66${textHex('blake3')}7847${textHex(valueStart)}`;

/** A structurally-edited copy of a golden input, encoded canonically without manifest validation. */
function canonicalVariant(input: unknown, edit: (m: Record<string, CborValue>) => void): Uint8Array {
  const m = structuredClone(input) as Record<string, CborValue>;
  edit(m);
  return encodeCanonical(m);
}

function expectManifestError(run: () => unknown, code: ManifestErrorCode, path = '$'): void {
  let caught: unknown;
  try {
    run();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ManifestError);
  expect(caught).toMatchObject({ code, path });
}

describe('decodeManifest rejects non-canonical encodings of a valid manifest', () => {
  // The reference writer with no options reproduces the golden bytes, so each variant below differs
  // from the canonical encoding only in the one respect it names.
  it('starts from a reference encoding identical to the frozen bytes', () => {
    expect(hex(writeCbor(numbers.input))).toBe(numbers.cborHex);
  });

  const variants: [string, Uint8Array, ManifestErrorCode][] = [
    ['map keys in insertion order', writeCbor(numbers.input, { keyOrder: 'insertion' }), 'non-canonical'],
    ['map keys in reverse order', writeCbor(numbers.input, { keyOrder: 'reverse' }), 'non-canonical'],
    [
      'two adjacent top-level entries swapped',
      patch(minimal.cbor, `70${textHex('manifest_version')}0170${textHex('storage_receipts')}80`, `70${textHex('storage_receipts')}8070${textHex('manifest_version')}01`),
      'non-canonical',
    ],
    // cborg's strict decoder refuses non-shortest integer and length heads while parsing, before
    // the re-encoding comparison runs, so these surface as `malformed`.
    ['every integer and length in its 8-byte form', writeCbor(numbers.input, { wideArguments: true }), 'malformed'],
    ['manifest_version 1 written as 18 01', patch(numbers.cbor, `${textHex('manifest_version')}01`, `${textHex('manifest_version')}1801`), 'malformed'],
    ['a file size written as uint64 where uint32 suffices', patch(numbers.cbor, `${textHex('size')}1affffffff`, `${textHex('size')}1b00000000ffffffff`), 'malformed'],
    ['indefinite-length maps', writeCbor(numbers.input, { indefiniteMaps: true }), 'malformed'],
    ['every float as float64', writeCbor(numbers.input, { float64: true }), 'non-canonical'],
    ['1.5 as float64 where float16 suffices', patch(numbers.cbor, 'f93e00', 'fb3ff8000000000000'), 'non-canonical'],
    ['65536.5 as float64 where float32 suffices', patch(numbers.cbor, 'fa47800040', 'fb40f0000800000000'), 'non-canonical'],
    ['the integer 2 written as float16 2.0', patch(numbers.cbor, `${textHex('float_spelled_integral')}02`, `${textHex('float_spelled_integral')}f94000`), 'non-canonical'],
    ['invalid UTF-8 in a text string', patch(numbers.cbor, `64${textHex('acme')}`, '6461636dff'), 'non-canonical'],
  ];

  it.each(variants)('%s', (_label, bytes, code) => {
    expectManifestError(() => decodeManifest(bytes), code);
    expectManifestError(() => manifestDigest(bytes), code);
  });
});

describe('decodeManifest rejects bytes that are not one CBOR manifest', () => {
  const cases: [string, Uint8Array, ManifestErrorCode][] = [
    ['empty input', new Uint8Array(), 'malformed'],
    ['a truncated manifest', typical.cbor.subarray(0, typical.cbor.length - 1), 'malformed'],
    ['one trailing zero byte', fromHex(`${typical.cborHex}00`), 'malformed'],
    ['two manifests back to back', fromHex(typical.cborHex.repeat(2)), 'malformed'],
    ['a duplicate top-level key', patch(typical.cbor, `70${textHex('storage_receipts')}`, `70${textHex('manifest_version')}`), 'malformed'],
    ['a self-described CBOR tag around the manifest', fromHex(`d9d9f7${typical.cborHex}`), 'malformed'],
    ['JSON instead of CBOR', typical.jcs, 'malformed'],
  ];

  it.each(cases)('%s', (_label, bytes, code) => {
    expectManifestError(() => decodeManifest(bytes), code);
  });
});

describe('decodeManifest rejects canonical CBOR that is not a valid v1 manifest', () => {
  const cases: [string, Uint8Array, ManifestErrorCode, string][] = [
    ['an unknown top-level field', canonicalVariant(typical.input, (m) => void (m.signature = 'x')), 'invalid-manifest', '$.signature'],
    ['manifest_version 2', canonicalVariant(typical.input, (m) => void (m.manifest_version = 2)), 'unsupported-version', '$.manifest_version'],
    ['manifest_version 2 with a v2 shape', encodeCanonical({ manifest_version: 2, everything: 'else changed' }), 'unsupported-version', '$.manifest_version'],
    ['manifest_version 0', canonicalVariant(typical.input, (m) => void (m.manifest_version = 0)), 'unsupported-version', '$.manifest_version'],
    ['manifest_version as text', canonicalVariant(typical.input, (m) => void (m.manifest_version = '1')), 'invalid-manifest', '$.manifest_version'],
    ['no manifest_version', canonicalVariant(typical.input, (m) => void delete m.manifest_version), 'invalid-manifest', '$.manifest_version'],
    ['an array at the top level', encodeCanonical([1]), 'invalid-manifest', '$'],
    ['upper-case hex in a digest', patch(typical.cbor, digestSlot('blake3:bff92168'), digestSlot('blake3:BFF92168')), 'invalid-manifest', '$.files[0].digests.blake3'],
    ['a sha256 digest in the blake3 slot', patch(typical.cbor, digestSlot('blake3:bff92168'), digestSlot('sha256:bff92168')), 'invalid-manifest', '$.files[0].digests.blake3'],
    [
      'unsorted files',
      canonicalVariant(typical.input, (m) => void (m.files = [...(m.files as CborValue[])].reverse())),
      'invalid-manifest',
      '$.files[1].relative_path',
    ],
    [
      'a byte string in metadata',
      canonicalVariant(typical.input, (m) => void ((m.package as Record<string, CborValue>).metadata = { raw: new Uint8Array([1, 2]) })),
      'invalid-manifest',
      '$.package.metadata.raw',
    ],
  ];

  it.each(cases)('%s', (_label, bytes, code, path) => {
    expectManifestError(() => decodeManifest(bytes), code, path);
  });

  it('still decodes the unedited bytes', () => {
    expect(encodeManifest(decodeManifest(typical.cbor))).toEqual(typical.cbor);
  });
});

describe('manifestFromJcs is as strict as the CBOR decoder', () => {
  const jcs = new TextDecoder().decode(typical.jcs);
  const replaceOnce = (from: string, to: string): Uint8Array => {
    if (jcs.split(from).length !== 2) throw new Error(`replace target ${from} is not unique`);
    return utf8(jcs.replace(from, to));
  };

  const cases: [string, Uint8Array, ManifestErrorCode, string][] = [
    ['pretty-printed JSON', utf8(JSON.stringify(typical.input, null, 2)), 'non-canonical', '$'],
    ['keys in insertion order', utf8(JSON.stringify(typical.input)), 'non-canonical', '$'],
    ['a trailing newline', utf8(`${jcs}\n`), 'non-canonical', '$'],
    ['an integer spelled 0.0', replaceOnce('"holds_active":0', '"holds_active":0.0'), 'non-canonical', '$'],
    ['an unnecessary escape', replaceOnce('"tenant":"acme"', '"tenant":"\\u0061cme"'), 'non-canonical', '$'],
    ['a duplicate key', replaceOnce('{"files":', '{"files":[],"files":'), 'non-canonical', '$'],
    ['a byte order mark', new Uint8Array([0xef, 0xbb, 0xbf, ...typical.jcs]), 'malformed', '$'],
    ['invalid UTF-8', new Uint8Array([...typical.jcs.subarray(0, 10), 0xff, ...typical.jcs.subarray(10)]), 'malformed', '$'],
    ['not JSON', utf8('{"files":'), 'malformed', '$'],
    ['manifest_version 2', replaceOnce('"manifest_version":1', '"manifest_version":2'), 'unsupported-version', '$.manifest_version'],
    ['an unknown field', replaceOnce('{"files":', '{"extra":true,"files":'), 'invalid-manifest', '$.extra'],
    ['a lone surrogate', replaceOnce('"tenant":"acme"', '"tenant":"acme\\udead"'), 'invalid-manifest', '$.package.tenant'],
  ];

  it.each(cases)('%s', (_label, bytes, code, path) => {
    expectManifestError(() => manifestFromJcs(bytes), code, path);
  });
});

describe('decoders survive hostile nesting', () => {
  // Whether the parser overflows its stack or the depth check fires first depends on the stack
  // size; either way the caller must get a ManifestError, never a RangeError.
  const depth = 100_000;

  it('CBOR', () => {
    expect(() => decodeManifest(new Uint8Array([...new Uint8Array(depth).fill(0x81), 0xf6]))).toThrow(ManifestError);
  });

  it('JCS', () => {
    expect(() => manifestFromJcs(utf8(`${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`))).toThrow(ManifestError);
    expect(() => manifestFromJcs(utf8(`${'['.repeat(depth)}${']'.repeat(depth)}`))).toThrow(ManifestError);
  });
});
