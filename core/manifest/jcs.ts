/**
 * The manifest's JSON projection: RFC 8785 JSON Canonicalization Scheme (JCS), UTF-8.
 *
 * For people and JSON-only tools (APIs, audits, `jq`). The CBOR bytes stay the stored form and the
 * identity; the JCS bytes are derived and never hashed as the manifest's identity. Because a
 * manifest holds JSON values only (validate.ts), the projection is lossless both ways:
 * `encodeManifest(manifestFromJcs(manifestToJcs(m)))` equals `encodeManifest(m)`.
 *
 * Numbers: JavaScript has one number type, so JSON `1.0` and `1` are the same value. JCS writes it as
 * `1` and CBOR as the integer 1; a non-integral number is a float in both (CBOR picks the shortest
 * float width that is exact). Both directions agree because both start from the same JS number.
 */
import canonicalize from 'canonicalize';
import { ManifestError, type Manifest } from './manifest.ts';
import { validateManifest } from './validate.ts';

const utf8Encoder = new TextEncoder();
// fatal: invalid UTF-8 is an error, not U+FFFD; ignoreBOM: a BOM is kept, so it fails the canonical check.
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function jcsText(value: unknown): string {
  const text = canonicalize(value);
  // canonicalize returns undefined only for undefined input; a parsed or validated value never is.
  if (text === undefined) throw new ManifestError('malformed', '$', 'value has no JSON form');
  return text;
}

/**
 * Validates `manifest` and returns its RFC 8785 canonical JSON as UTF-8 bytes.
 * Throws `ManifestError` (`invalid-manifest` or `unsupported-version`) like `encodeManifest`.
 */
export function manifestToJcs(manifest: Manifest): Uint8Array {
  return utf8Encoder.encode(jcsText(validateManifest(manifest)));
}

/**
 * Parses RFC 8785 canonical JSON bytes into a deep-frozen manifest.
 *
 * As strict as `decodeManifest`: the bytes must be exactly the JCS form of what they parse to
 * (no whitespace, sorted keys, shortest numbers, minimal escapes, no BOM, no duplicate keys), so a
 * JSON manifest also has exactly one accepted spelling. To read hand-written or pretty-printed JSON,
 * `JSON.parse` it and pass the value to `validateManifest`.
 *
 * Throws `ManifestError` with code `malformed` (not UTF-8 or not JSON), `non-canonical` (valid JSON,
 * not its JCS form), `unsupported-version` or `invalid-manifest`.
 */
export function manifestFromJcs(bytes: Uint8Array): Manifest {
  let text: string;
  let value: unknown;
  try {
    text = utf8Decoder.decode(bytes);
    value = JSON.parse(text);
  } catch (err) {
    throw new ManifestError('malformed', '$', `not UTF-8 JSON: ${(err as Error).message}`, { cause: err });
  }
  let again: string;
  try {
    again = jcsText(value);
  } catch (err) {
    // Only reachable through pathological nesting that overflows canonicalize's recursion.
    throw new ManifestError('malformed', '$', `JSON cannot be canonicalized: ${(err as Error).message}`, { cause: err });
  }
  if (again !== text) throw new ManifestError('non-canonical', '$', 'JSON is valid but not in RFC 8785 canonical form');
  return validateManifest(value);
}
