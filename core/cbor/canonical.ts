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
import { decode as cborgDecode, encode as cborgEncode, rfc8949EncodeOptions, Tokenizer, Type, type Token } from 'cborg';

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

/** Encodes `value` as deterministic CBOR. Throws `unsupported-value` for anything outside the domain. */
export function encodeCanonical(value: CborValue): Uint8Array {
  check(value, '$', 0);
  return cborgEncode(value, rfc8949EncodeOptions);
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
