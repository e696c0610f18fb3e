/**
 * Deterministic CBOR (RFC 8949 §4.2.1 core deterministic encoding) for every byte sequence that is
 * hashed or stored: manifests, event payloads and the event hash input.
 *
 * Encoding uses cborg with `rfc8949EncodeOptions` (definite lengths, shortest integers and floats,
 * map keys sorted by their encoded bytes); see docs/adr/0003-canonical-cbor.md for why not cbor-x.
 * The value domain is deliberately small so that every value has exactly one encoding and a JSON
 * projection: null, booleans, safe integers, finite floats, text, byte strings, arrays and maps with
 * text keys. No tags, no undefined, no bigint, no NaN or infinities.
 */
import { CodedError } from '../errors/coded-error.ts';
import { decode as cborgDecode, encode as cborgEncode, rfc8949EncodeOptions, Token, Tokenizer, Type } from 'cborg';

/** A value that has exactly one canonical CBOR encoding. */
export type CborValue = null | boolean | number | string | Uint8Array | readonly CborValue[] | { readonly [key: string]: CborValue };

/** Stable codes for canonical CBOR failures. */
export type CanonicalCborErrorCode = 'unsupported-value' | 'malformed-cbor' | 'non-canonical-cbor';

/** Raised when a value cannot be encoded canonically or bytes are not canonical CBOR. */
export class CanonicalCborError extends CodedError<CanonicalCborErrorCode> {
  override readonly name = 'CanonicalCborError';
}

function check(value: unknown, path: string, depth: number): void {
  if (depth > 64) throw new CanonicalCborError('unsupported-value', `${path}: nesting deeper than 64`);
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new CanonicalCborError('unsupported-value', `${path}: non-finite number`);
    if (Number.isInteger(value) && !Number.isSafeInteger(value)) throw new CanonicalCborError('unsupported-value', `${path}: integer outside the safe range`);
    if (Object.is(value, -0)) throw new CanonicalCborError('unsupported-value', `${path}: negative zero`);
    return;
  }
  if (value instanceof Uint8Array) return;
  if (Array.isArray(value)) {
    value.forEach((item, i) => check(item, `${path}[${i}]`, depth + 1));
    return;
  }
  if (typeof value === 'object') {
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto !== Object.prototype && proto !== null) throw new CanonicalCborError('unsupported-value', `${path}: only plain objects are encodable`);
    for (const [k, v] of Object.entries(value)) check(v, `${path}.${k}`, depth + 1);
    return;
  }
  throw new CanonicalCborError('unsupported-value', `${path}: ${typeof value} is not encodable`);
}

// eslint-disable-next-line no-control-regex -- the whole ASCII range, control characters included.
const ASCII = /^[\u0000-\u007f]*$/;

/**
 * The RFC 8949 §4.2.1 order of two text map keys: by their encoded bytes, which for text strings is by
 * UTF-8 length (the header grows with it), then by UTF-8 bytes. Text with unpaired surrogates compares
 * as the U+FFFD the encoder writes for them.
 */
export function compareTextKeys(a: string, b: string): number {
  // ASCII: one byte per code unit, and byte order is code-unit order.
  if (ASCII.test(a) && ASCII.test(b)) return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length - y.length || Buffer.compare(x, y);
}

type MapEntry = (Token | Token[])[];
const libraryMapSorter = rfc8949EncodeOptions.mapSorter as (e1: MapEntry, e2: MapEntry) => number;

/**
 * cborg's RFC 8949 sorter encodes every key of every map into a fresh buffer to compare it (a 10,000-file
 * manifest spent ~0.3 s there); text keys, the only kind our values have, compare without encoding.
 * Anything else goes to the library's sorter. `test/cbor/canonical-sorter.test.ts` checks both give the
 * same bytes.
 */
function mapSorter(e1: MapEntry, e2: MapEntry): number {
  const k1 = e1[0];
  const k2 = e2[0];
  if (k1 instanceof Token && k2 instanceof Token && k1.type === Type.string && k2.type === Type.string) return compareTextKeys(k1.value as string, k2.value as string);
  return libraryMapSorter(e1, e2);
}

const encodeOptions = { ...rfc8949EncodeOptions, mapSorter };

/** Encodes `value` as deterministic CBOR. Throws `unsupported-value` for anything outside the domain. */
export function encodeCanonical(value: CborValue): Uint8Array {
  check(value, '$', 0);
  return cborgEncode(value, encodeOptions);
}

const strictDecodeOptions = {
  strict: true,
  allowIndefinite: false,
  allowUndefined: false,
  allowNaN: false,
  allowInfinity: false,
  allowBigInt: false,
  rejectDuplicateMapKeys: true,
  useMaps: false,
} as const;

/**
 * Decodes canonical CBOR and rejects anything else: malformed input, tags, indefinite lengths,
 * duplicate or non-text keys, and any encoding that differs from the canonical one (key order,
 * integer or float width), checked by re-encoding and comparing bytes.
 */
export function decodeCanonical(bytes: Uint8Array): CborValue {
  let value: unknown;
  try {
    const options = { ...strictDecodeOptions, retainStringBytes: true };
    value = cborgDecode(bytes, { ...options, tokenizer: new ExactTextTokenizer(bytes, options) });
  } catch (err) {
    throw new CanonicalCborError('malformed-cbor', `not valid CBOR in the supported subset: ${(err as Error).message}`, { cause: err });
  }
  let again: Uint8Array;
  try {
    again = encodeCanonical(value as CborValue);
  } catch (err) {
    throw new CanonicalCborError('non-canonical-cbor', `decoded value has no canonical encoding: ${(err as Error).message}`, { cause: err });
  }
  if (!Buffer.from(again.buffer, again.byteOffset, again.byteLength).equals(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))) {
    throw new CanonicalCborError('non-canonical-cbor', 'CBOR is well-formed but not in RFC 8949 deterministic form');
  }
  return value as CborValue;
}

/**
 * UTF-8 decoding that keeps a leading U+FEFF. Invalid sequences become U+FFFD, as in cborg, so the
 * re-encoding check below refuses them (as non-canonical).
 */
const exactText = new TextDecoder('utf-8', { ignoreBOM: true });

/**
 * cborg's tokenizer, with text strings decoded exactly. cborg decodes text with a default
 * TextDecoder, which drops a leading byte-order mark: a file name or metadata value starting with
 * U+FEFF would come back one character short and its (canonical) bytes would be refused on decode.
 */
class ExactTextTokenizer extends Tokenizer {
  override next(): Token {
    const token = super.next();
    if (token.type.major === Type.string.major && token.byteValue !== undefined) token.value = exactText.decode(token.byteValue);
    return token;
  }
}
