/**
 * The v1 manifest's stored form: RFC 8949 deterministic CBOR via core/cbor/canonical.ts.
 *
 * These bytes are what is stored and hashed (digest.ts), so encode and decode are exact inverses on
 * valid manifests and nothing else gets through: encode validates before writing, decode accepts only
 * the one canonical encoding of a valid v1 manifest. See docs/adr/0003-canonical-cbor.md.
 */
import { CanonicalCborError, decodeCanonical, encodeCanonical } from '../cbor/canonical.ts';
import { ManifestError, type Manifest } from './manifest.ts';
import { validateManifest } from './validate.ts';

/**
 * Validates `manifest` and returns its canonical CBOR bytes.
 *
 * Deterministic: equal manifests give equal bytes whatever the key insertion order of the objects.
 * Throws `ManifestError` (`invalid-manifest` or `unsupported-version`, with the field path) and
 * writes nothing for an invalid manifest.
 */
export function encodeManifest(manifest: Manifest): Uint8Array {
  // Encode the validated copy, not the argument: it holds only v1 fields, plain data, no getters.
  // Validation is stricter than the canonical encoder's own domain check, so this cannot throw.
  return encodeCanonical(validateManifest(manifest));
}

/**
 * Decodes canonical CBOR bytes into a deep-frozen manifest.
 *
 * Throws `ManifestError` with code:
 * - `malformed` when the bytes are not CBOR in the supported subset: truncated, trailing bytes,
 *   tags, byte-string keys, duplicate keys, and the encodings cborg's strict decoder refuses while
 *   parsing (integers or lengths not in their shortest form, indefinite lengths);
 * - `non-canonical` when the bytes decode but are not the canonical encoding of what they decode to
 *   (map key order, a float wider than needed, a float where an integer is canonical, invalid UTF-8);
 * - `unsupported-version` for a `manifest_version` other than 1;
 * - `invalid-manifest` for canonical bytes that break a manifest rule (unknown field, bad digest,
 *   unsorted files, a byte string anywhere, ...), with the field path.
 */
export function decodeManifest(bytes: Uint8Array): Manifest {
  let value: unknown;
  try {
    value = decodeCanonical(bytes);
  } catch (err) {
    if (!(err instanceof CanonicalCborError)) throw err;
    throw new ManifestError(err.code === 'malformed-cbor' ? 'malformed' : 'non-canonical', '$', err.message, { cause: err });
  }
  return validateManifest(value);
}
