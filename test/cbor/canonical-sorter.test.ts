// encodeCanonical sorts text map keys itself (cborg's RFC 8949 sorter encodes every key to compare it);
// these check it gives exactly the bytes of cborg's own rfc8949EncodeOptions, the reference.
import { encode as cborgEncode, rfc8949EncodeOptions } from 'cborg';
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { compareTextKeys, encodeCanonical, type CborValue } from '../../core/cbor/canonical.ts';

const key = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 6 }),
  fc.string({ unit: 'grapheme', maxLength: 4 }),
  fc.string({ maxLength: 30 }),
  fc.constantFrom('', 'a', 'aa', 'b', 'z', 'Z', '10', '2', 'é', 'ß', '\u00ff', '\u0100', '\u07ff', '\u0800', '\ue000', '\uffff', '😀', '\ud800\udc00', 'x'.repeat(23), 'x'.repeat(24), 'x'.repeat(256)),
);
const { value } = fc.letrec<{ value: CborValue; map: { readonly [key: string]: CborValue } }>((tie) => ({
  value: fc.oneof({ maxDepth: 3 }, fc.integer(), fc.string({ maxLength: 5 }), fc.constant(null), fc.array(tie('value'), { maxLength: 3 }), tie('map')),
  map: fc.array(fc.tuple(key, tie('value')), { maxLength: 8 }).map((entries) => Object.fromEntries(entries)),
}));

it('encodes exactly as cborg rfc8949EncodeOptions for any map of text keys', () => {
  fc.assert(
    fc.property(value, (v) => {
      expect(Buffer.from(encodeCanonical(v)).toString('hex')).toBe(Buffer.from(cborgEncode(v, rfc8949EncodeOptions)).toString('hex'));
    }),
    { numRuns: 2000 },
  );
});

it('orders text keys by encoded length, then bytes (not UTF-16 order)', () => {
  const keys = ['\uffff', '😀', 'b', 'aa', '', 'x'.repeat(24), 'x'.repeat(23), 'é', 'z'];
  expect([...keys].sort(compareTextKeys)).toEqual(['', 'b', 'z', 'aa', 'é', '\uffff', '😀', 'x'.repeat(23), 'x'.repeat(24)]);
});
