// Text strings come back exactly: cborg's default decoder drops a leading U+FEFF, which made the
// canonical bytes of a manifest naming such a file undecodable (found by the manifest property test).
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { decodeCanonical, encodeCanonical } from '../../core/cbor/canonical.ts';

it('keeps a leading byte-order mark in keys and values', () => {
  const value = { '\uFEFFkey': '\uFEFF\u0001/a', list: ['\uFEFF', '\uFEFF\uFEFFx'.repeat(20)] };
  expect(decodeCanonical(encodeCanonical(value))).toEqual(value);
});

it('round-trips any string exactly', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme', maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 80 }), (a, b) => {
      const value = { a, b: `\uFEFF${b}` };
      expect(decodeCanonical(encodeCanonical(value))).toEqual(value);
    }),
    { numRuns: 300 },
  );
});

it('refuses text that is not UTF-8', () => {
  // A one-byte text string holding 0xff.
  expect(() => decodeCanonical(new Uint8Array([0x61, 0xff]))).toThrow(/not valid CBOR|deterministic/);
});
