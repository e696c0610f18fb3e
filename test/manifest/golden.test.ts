import { describe, expect, it } from 'vitest';
import { decodeManifest, encodeManifest } from '../../core/manifest/codec.ts';
import { manifestDigest } from '../../core/manifest/digest.ts';
import { manifestFromJcs, manifestToJcs } from '../../core/manifest/jcs.ts';
import { GOLDEN_NAMES, goldenNamesOnDisk, loadGolden } from './golden.ts';
import { readCbor, writeCbor } from './reference-cbor.ts';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const utf8 = (bytes: Uint8Array): string => new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);

// These vectors are the format: a failure here means stored manifests would stop verifying.
// Fix the code, never the expected files (test/manifest/golden/README.md).
describe.each(GOLDEN_NAMES)('golden manifest %s', (name) => {
  const v = loadGolden(name);

  it('encodes to the frozen CBOR bytes', () => {
    expect(hex(encodeManifest(v.manifest))).toBe(v.cborHex);
  });

  it('projects to the frozen JCS bytes', () => {
    expect(utf8(manifestToJcs(v.manifest))).toBe(utf8(v.jcs));
  });

  it('has the frozen digest, computed from the value and from the bytes', () => {
    expect(manifestDigest(v.manifest).toString()).toBe(v.digest);
    expect(manifestDigest(v.cbor).toString()).toBe(v.digest);
  });

  it('decodes the CBOR bytes back to the input', () => {
    expect(decodeManifest(v.cbor)).toStrictEqual(v.input);
  });

  it('reads the JCS bytes back to the input', () => {
    expect(manifestFromJcs(v.jcs)).toStrictEqual(v.input);
  });

  it('agrees with the independent reference CBOR codec', () => {
    expect(hex(writeCbor(v.input))).toBe(v.cborHex);
    expect(readCbor(v.cbor)).toStrictEqual(v.input);
  });
});

describe('golden vector set', () => {
  it('lists every vector on disk, so none is silently skipped', () => {
    expect(goldenNamesOnDisk()).toEqual([...GOLDEN_NAMES].sort());
  });
});
