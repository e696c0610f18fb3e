/**
 * Input checks for registry calls. Everything a client sends is checked here before an event is
 * written; the error names the field.
 */
import { CanonicalCborError, encodeCanonical, type CborValue } from '../../core/cbor/canonical.ts';
import { Digest } from '../../core/identity/digest.ts';
import { RelativePathError, normalizeRelativePath } from '../../core/paths/relative-path.ts';
import { ManifestError, type JsonObject } from '../../core/manifest/manifest.ts';
import { validateJsonObject } from '../../core/manifest/validate.ts';
import { RegistryError } from './registry-error.ts';

/** Largest accepted metadata or provenance object, as canonical CBOR bytes. */
export const MAX_METADATA_BYTES = 64 * 1024;

/** A short identifier-like text field: non-empty, at most `max` characters, no control characters. */
export function checkLabel(field: string, value: unknown, max = 256): string {
  if (typeof value !== 'string' || value.length === 0) throw new RegistryError('invalid-argument', `${field} is required`);
  if (value.length > max) throw new RegistryError('invalid-argument', `${field} is longer than ${max} characters`);
  // eslint-disable-next-line no-control-regex -- control characters are what is refused.
  if (/[\u0000-\u001f\u007f]/.test(value)) throw new RegistryError('invalid-argument', `${field} contains a control character`);
  return value;
}

/** A JSON object of bounded size, free of values JSON cannot carry. */
export function checkJsonObject(field: string, value: unknown): JsonObject {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array) {
    throw new RegistryError('invalid-argument', `${field} must be a JSON object`);
  }
  let bytes: Uint8Array;
  try {
    assertJson(value, field);
    // As the manifest will hold it: what finalizing would refuse is refused here, as bad input.
    validateJsonObject(value, field);
    bytes = encodeCanonical(value as CborValue);
  } catch (err) {
    if (err instanceof RegistryError) throw err;
    const detail = err instanceof CanonicalCborError ? err.message.replace(/^\$/, field) : err instanceof ManifestError ? err.message : String(err);
    throw new RegistryError('invalid-argument', `${field} is not storable JSON: ${detail}`, { cause: err });
  }
  if (bytes.byteLength > MAX_METADATA_BYTES) throw new RegistryError('invalid-argument', `${field} is larger than ${MAX_METADATA_BYTES} bytes`);
  return value as JsonObject;
}

function assertJson(value: unknown, path: string): void {
  if (value instanceof Uint8Array) throw new RegistryError('invalid-argument', `${path}: byte strings are not JSON`);
  // PostgreSQL's jsonb cannot hold U+0000: refused here as bad input, not met as a database error.
  if (typeof value === 'string' && value.includes('\u0000')) throw new RegistryError('invalid-argument', `${path}: text must not contain U+0000 (NUL)`);
  if (Array.isArray(value)) value.forEach((v, i) => assertJson(v, `${path}[${i}]`));
  else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k.includes('\u0000')) throw new RegistryError('invalid-argument', `${path}: a key must not contain U+0000 (NUL)`);
      assertJson(v, `${path}.${k}`);
    }
  }
}

/** A content address of the given algorithm. */
export function checkDigest(field: string, value: unknown, algorithm: 'blake3' | 'sha256'): string {
  if (typeof value !== 'string') throw new RegistryError('invalid-argument', `${field} is required`);
  let digest: Digest;
  try {
    digest = Digest.parse(value);
  } catch (err) {
    throw new RegistryError('invalid-argument', `${field}: ${(err as Error).message}`, { cause: err });
  }
  if (digest.algorithm !== algorithm) throw new RegistryError('invalid-argument', `${field} must be a ${algorithm} digest`);
  return digest.toString();
}

/** A size in bytes. */
export function checkSize(field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new RegistryError('invalid-argument', `${field} must be a non-negative integer`);
  return value;
}

/** An RFC 6838 media type (`type/subtype`, optional parameters), stored lower-cased up to the parameters. */
export function checkMediaType(field: string, value: unknown): string {
  if (value === undefined || value === '') return 'application/octet-stream';
  if (typeof value !== 'string' || value.length > 255) throw new RegistryError('invalid-argument', `${field} must be a media type`);
  const m = /^([A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126})\/([A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126})((?:\s*;\s*[A-Za-z0-9!#$&^_.+-]+=(?:[A-Za-z0-9!#$&^_.+-]+|"[^"\\\r\n]*"))*)$/.exec(value);
  if (m === null) throw new RegistryError('invalid-argument', `${field} is not a media type: ${JSON.stringify(value.slice(0, 80))}`);
  return `${m[1]!.toLowerCase()}/${m[2]!.toLowerCase()}${m[3] ?? ''}`;
}

/** A relative path inside a package, returned in its normal form (NFC, no `..`, no absolute paths). */
export function checkRelativePath(value: unknown): string {
  if (typeof value !== 'string' || value === '') throw new RegistryError('invalid-argument', 'relative_path is required');
  try {
    return normalizeRelativePath(value);
  } catch (err) {
    if (err instanceof RelativePathError) throw new RegistryError('invalid-argument', err.message, { cause: err });
    throw err;
  }
}
