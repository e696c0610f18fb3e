/**
 * The decoded form of a payload value, built without the round trip through bytes: what
 * `decodeCanonical(encodeCanonical(value))` returns, so the live writer can hand the projector the
 * value it has just encoded instead of decoding its own bytes again (replay still decodes).
 *
 * Decoding differs from the encoded value in ways the projector can see, and the copy reproduces
 * each: map keys come back in canonical order (RFC 8949 §4.2.1: by encoded key, i.e. UTF-8 length,
 * then bytes), which `JSON.stringify` of metadata keeps; maps are fresh plain objects (a `__proto__`
 * key stays an own key, as cborg decodes it); byte strings are fresh plain `Uint8Array`s (as decoded
 * from stored bytes, a plain `Uint8Array`; decoding a `Buffer` would give `Buffer` views). Where the
 * copy could not be sure of matching the decoder (text with an unpaired surrogate, which the encoder
 * writes as U+FFFD; arrays with holes, which the decoder refuses) it declines and the caller decodes.
 */
import { compareTextKeys, type CborValue } from '../../core/cbor/canonical.ts';

// With the `u` flag a valid surrogate pair is one code point, so only unpaired halves match.
const LONE_SURROGATE = /\p{Cs}/u;

/** Marks a value the copy cannot vouch for. */
const DECLINED: unique symbol = Symbol('declined');

function copy(value: CborValue): CborValue | typeof DECLINED {
  if (value === null || typeof value === 'boolean' || typeof value === 'number') return value;
  if (typeof value === 'string') return LONE_SURROGATE.test(value) ? DECLINED : value;
  if (value instanceof Uint8Array) return new Uint8Array(value);
  if (Array.isArray(value)) {
    const items = value as readonly CborValue[];
    const out: CborValue[] = [];
    for (let i = 0; i < items.length; i++) {
      if (!Object.hasOwn(items, i)) return DECLINED;
      const item = copy(items[i] as CborValue);
      if (item === DECLINED) return DECLINED;
      out.push(item);
    }
    return out;
  }
  const map = value as { readonly [key: string]: CborValue };
  const keys = Object.keys(map);
  for (const key of keys) if (LONE_SURROGATE.test(key)) return DECLINED;
  keys.sort(compareTextKeys);
  const out: Record<string, CborValue> = {};
  for (const key of keys) {
    const item = copy(map[key] as CborValue);
    if (item === DECLINED) return DECLINED;
    // A plain assignment to `__proto__` would set the prototype instead (cborg defines it too).
    if (key === '__proto__') Object.defineProperty(out, key, { value: item, configurable: true, enumerable: true, writable: true });
    else out[key] = item;
  }
  return out;
}

/**
 * A fresh value equal to `decodeCanonical(encodeCanonical(value))` (same types, same key order), or
 * undefined when this cannot be vouched for and the caller must decode the bytes instead.
 * `value` must be one `encodeCanonical` accepts (the caller has encoded it).
 */
export function decodedForm(value: CborValue): CborValue | undefined {
  const out = copy(value);
  return out === DECLINED ? undefined : out;
}
