import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeManifest, encodeManifest } from '../../core/manifest/codec.ts';
import { manifestDigest } from '../../core/manifest/digest.ts';
import { manifestFromJcs, manifestToJcs } from '../../core/manifest/jcs.ts';
import { ManifestError, type Manifest } from '../../core/manifest/manifest.ts';
import { validateManifest } from '../../core/manifest/validate.ts';
import { manifestArb } from './manifest-arbitrary.ts';
import { readCbor, writeCbor } from './reference-cbor.ts';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

/** Rebuilds every object of `value` with its keys in an order drawn by `gen`; arrays keep their order. */
function reorderKeys(value: unknown, gen: fc.GeneratorValue): unknown {
  if (Array.isArray(value)) return value.map((item) => reorderKeys(item, gen));
  if (typeof value !== 'object' || value === null) return value;
  const entries = Object.entries(value);
  const order = gen(fc.shuffledSubarray, entries, { minLength: entries.length, maxLength: entries.length });
  // Object.fromEntries keeps a `__proto__` key as an own property.
  return Object.fromEntries(order.map(([k, v]) => [k, reorderKeys(v, gen)]));
}

describe('manifest codec properties', () => {
  it('round-trips every valid manifest through CBOR', () => {
    fc.assert(
      fc.property(manifestArb, (m) => {
        const bytes = encodeManifest(m);
        const decoded = decodeManifest(bytes);
        expect(decoded).toEqual(validateManifest(m));
        expect(hex(encodeManifest(decoded))).toBe(hex(bytes));
      }),
      { numRuns: 300 },
    );
  });

  it('round-trips every valid manifest through JCS to the same CBOR bytes', () => {
    fc.assert(
      fc.property(manifestArb, (m) => {
        const jcs = manifestToJcs(m);
        const back = manifestFromJcs(jcs);
        expect(hex(encodeManifest(back))).toBe(hex(encodeManifest(m)));
        expect(hex(manifestToJcs(back))).toBe(hex(jcs));
        expect(hex(manifestToJcs(decodeManifest(encodeManifest(m))))).toBe(hex(jcs));
      }),
      { numRuns: 300 },
    );
  });

  it('encodes the same bytes whatever the key insertion order', () => {
    fc.assert(
      fc.property(manifestArb, fc.gen(), (m, gen) => {
        const shuffled = reorderKeys(m, gen) as Manifest;
        expect(hex(encodeManifest(shuffled))).toBe(hex(encodeManifest(m)));
        expect(hex(manifestToJcs(shuffled))).toBe(hex(manifestToJcs(m)));
        expect(manifestDigest(shuffled).equals(manifestDigest(m))).toBe(true);
      }),
    );
  });

  it('agrees byte for byte with the independent reference CBOR codec', () => {
    fc.assert(
      fc.property(manifestArb, (m) => {
        const bytes = encodeManifest(m);
        expect(hex(writeCbor(m))).toBe(hex(bytes));
        expect(readCbor(bytes)).toEqual(validateManifest(m));
      }),
      { numRuns: 300 },
    );
  });

  it('gives the digest of the bytes, from the value or from the bytes', () => {
    fc.assert(
      fc.property(manifestArb, (m) => {
        expect(manifestDigest(encodeManifest(m)).toString()).toBe(manifestDigest(m).toString());
      }),
      { numRuns: 50 },
    );
  });

  it('never accepts corrupted bytes unless they are themselves a canonical manifest', () => {
    // A decoder that accepts anything non-canonical would give one manifest two identities.
    fc.assert(
      fc.property(manifestArb, fc.nat(), fc.integer({ min: 1, max: 255 }), fc.constantFrom('flip', 'drop', 'insert'), (m, at, byte, how) => {
        const bytes = encodeManifest(m);
        const i = at % bytes.length;
        const edited =
          how === 'flip'
            ? bytes.map((b, j) => (j === i ? b ^ byte : b))
            : how === 'drop'
              ? new Uint8Array([...bytes.subarray(0, i), ...bytes.subarray(i + 1)])
              : new Uint8Array([...bytes.subarray(0, i), byte, ...bytes.subarray(i)]);
        let decoded: Manifest;
        try {
          decoded = decodeManifest(edited);
        } catch (err) {
          expect(err).toBeInstanceOf(ManifestError);
          return;
        }
        expect(hex(encodeManifest(decoded))).toBe(hex(edited));
      }),
      { numRuns: 500 },
    );
  });
});
