/**
 * The manifest rules, in one place, shared by every codec: CBOR encode and decode, JCS encode and
 * decode. Encoders validate before writing so that no invalid manifest is ever hashed or stored;
 * decoders validate after the canonical-bytes check so that bytes from elsewhere meet the same bar.
 *
 * A v1 rule may later be relaxed but never tightened: a v1 manifest accepted today must still
 * decode in ten years. That is why v1 starts strict (every field required, no
 * unknown keys, one spelling per value) and why rules that depend on policy rather than on the
 * format (every file has a receipt, `finalized_at` after `created_at`, expiry after finalization)
 * are deliberately not checked here: policy may change, stored manifests may not.
 */
import { Digest } from '../identity/digest.ts';
import type { AlgorithmName } from '../identity/algorithms.ts';
import { parseTimestamp } from '../time/clock.ts';
import {
  MANIFEST_VERSION,
  ManifestError,
  type Blake3Address,
  type JsonObject,
  type JsonValue,
  type Manifest,
  type ManifestDigests,
  type ManifestFile,
  type ManifestPackage,
  type RetentionSummary,
  type StorageReceipt,
  type Timestamp,
} from './manifest.ts';

/**
 * Deepest nesting allowed inside `metadata` and `provenance` (the object itself is level 0). Keeps the
 * whole manifest far below the canonical CBOR encoder's limit of 64 and recursion bounded.
 */
export const MAX_JSON_DEPTH = 32;

// A lone surrogate has no UTF-8 encoding: CBOR would silently write U+FFFD and JCS would write an
// escape that RFC 8785 forbids, so the two projections would disagree. With the `u` flag a valid pair
// is one code point and only unpaired halves match.
const LONE_SURROGATE = /\p{Cs}/u;
// Identifiers end up in logs, keys and UIs; control characters there are always a bug or an attack.
const CONTROL = /\p{Cc}/u;
// RFC 6838 restricted-name, lower case only: media types are case-insensitive, so one spelling is kept.
const RESTRICTED_NAME = '[a-z0-9][a-z0-9!#$&^_.+-]{0,126}';
const MEDIA_TYPE = new RegExp(`^${RESTRICTED_NAME}/${RESTRICTED_NAME}(?:;.+)?$`, 's');

function fail(path: string, message: string): never {
  throw new ManifestError('invalid-manifest', path, message);
}

function child(path: string, key: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key.length > 64 ? `${key.slice(0, 64)}…` : key)}]`;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value !== 'object') return typeof value;
  const proto = Object.getPrototypeOf(value) as { constructor?: { name?: unknown } } | null;
  const name = proto?.constructor?.name;
  return typeof name === 'string' && name !== 'Object' ? `a ${name}` : 'an object';
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/** Checks that `value` is a plain object with exactly `keys` and returns its fields. */
function record<K extends string>(value: unknown, path: string, keys: readonly K[]): Record<K, unknown> {
  if (!isPlainObject(value)) fail(path, `expected an object, got ${describe(value)}`);
  const unknown = Object.keys(value)
    .filter((k) => !(keys as readonly string[]).includes(k))
    .sort();
  if (unknown[0] !== undefined) fail(child(path, unknown[0]), 'unknown field');
  for (const key of keys) {
    // An own property holding undefined is treated as missing: JCS would drop it and CBOR cannot
    // encode it, so accepting it would make the two projections disagree.
    if (!Object.hasOwn(value, key) || value[key] === undefined) fail(child(path, key), 'required field is missing');
  }
  return value;
}

function wellFormed(value: string, path: string): string {
  if (LONE_SURROGATE.test(value)) fail(path, 'text contains an unpaired UTF-16 surrogate');
  return value;
}

function identifier(value: unknown, path: string): string {
  if (typeof value !== 'string') fail(path, `expected text, got ${describe(value)}`);
  if (value.length === 0) fail(path, 'must not be empty');
  if (CONTROL.test(value)) fail(path, 'must not contain control characters');
  return wellFormed(value, path);
}

function timestamp(value: unknown, path: string): Timestamp {
  if (typeof value !== 'string') fail(path, `expected a timestamp, got ${describe(value)}`);
  try {
    parseTimestamp(value);
  } catch {
    fail(path, `not a canonical timestamp (expected e.g. 2026-11-23T10:34:00.000Z): ${JSON.stringify(value.slice(0, 40))}`);
  }
  return value;
}

function count(value: unknown, path: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || Object.is(value, -0)) {
    fail(path, `expected a non-negative safe integer, got ${typeof value === 'number' ? String(value) : describe(value)}`);
  }
  return value;
}

function digest<A extends AlgorithmName>(value: unknown, path: string, algorithm: A): `${A}:${string}` {
  if (typeof value !== 'string') fail(path, `expected a ${algorithm} digest, got ${describe(value)}`);
  let parsed: Digest;
  try {
    parsed = Digest.parse(value);
  } catch (err) {
    fail(path, (err as Error).message);
  }
  if (parsed.algorithm !== algorithm) fail(path, `expected a ${algorithm} digest, got ${parsed.algorithm}`);
  // Digest.parse accepts only the canonical spelling, so the input string is already canonical.
  return value as `${A}:${string}`;
}

function relativePath(value: unknown, path: string): string {
  if (typeof value !== 'string') fail(path, `expected a path, got ${describe(value)}`);
  if (value.length === 0) fail(path, 'must not be empty');
  if (value.includes('\0')) fail(path, 'must not contain NUL');
  wellFormed(value, path);
  // Paths must not escape the package root when extracted, and one file must have one spelling:
  // `a/./b`, `a//b` and `a/b` would otherwise be three distinct entries naming the same file.
  for (const segment of value.split('/')) {
    if (segment === '') fail(path, 'must be relative, without empty segments or a trailing slash');
    if (segment === '.' || segment === '..') fail(path, 'must not contain "." or ".." segments');
  }
  return value;
}

function mediaType(value: unknown, path: string): string {
  if (typeof value !== 'string') fail(path, `expected a media type, got ${describe(value)}`);
  if (!MEDIA_TYPE.test(value) || CONTROL.test(value)) fail(path, `not a lower-case type/subtype media type: ${JSON.stringify(value.slice(0, 80))}`);
  return wellFormed(value, path);
}

function jsonValue(value: unknown, path: string, depth: number): JsonValue {
  if (value === null || typeof value === 'boolean') return value;
  if (typeof value === 'string') return wellFormed(value, path);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) fail(path, 'numbers must be finite');
    // JSON has no -0 (JCS writes it as 0), so allowing it would break the CBOR/JCS round trip.
    if (Object.is(value, -0)) fail(path, 'negative zero is not allowed; write 0');
    // Every double of magnitude 2^53 or more is an integer; CBOR would need a bigint or a float and JS
    // cannot tell which was meant. Producers write such values as strings.
    if (Number.isInteger(value) && !Number.isSafeInteger(value)) fail(path, 'integers must lie within ±(2^53 − 1); write larger values as strings');
    return value;
  }
  if (depth >= MAX_JSON_DEPTH) fail(path, `nested deeper than ${MAX_JSON_DEPTH} levels`);
  if (Array.isArray(value)) {
    const items: JsonValue[] = [];
    for (let i = 0; i < value.length; i++) {
      if (!Object.hasOwn(value, i)) fail(`${path}[${i}]`, 'arrays must not have holes');
      items.push(jsonValue(value[i], `${path}[${i}]`, depth + 1));
    }
    return Object.freeze(items);
  }
  if (isPlainObject(value)) return jsonObjectEntries(value, path, depth);
  return fail(path, `${describe(value)} is not a JSON value`);
}

function jsonObjectEntries(value: Record<string, unknown>, path: string, depth: number): JsonObject {
  const entries: [string, JsonValue][] = [];
  for (const [key, item] of Object.entries(value)) {
    const itemPath = child(path, key);
    wellFormed(key, itemPath);
    entries.push([key, jsonValue(item, itemPath, depth + 1)]);
  }
  // Object.fromEntries defines own data properties, so a `__proto__` key stays a key, as it does in
  // JSON.parse and in the CBOR decoder.
  return Object.freeze(Object.fromEntries(entries));
}

/**
 * Checks a JSON object as the manifest holds it (`metadata`, `provenance`): finite numbers, no -0, safe
 * integers, well-formed strings, at most MAX_JSON_DEPTH levels. The registry checks producers' objects
 * with this when it takes them, so finalizing never meets one the manifest refuses. Throws ManifestError
 * naming `path`.
 */
export function validateJsonObject(value: unknown, path: string): JsonObject {
  return jsonObject(value, path);
}

function jsonObject(value: unknown, path: string): JsonObject {
  if (!isPlainObject(value)) fail(path, `expected an object, got ${describe(value)}`);
  return jsonObjectEntries(value, path, 0);
}

function manifestPackage(value: unknown, path: string): ManifestPackage {
  const v = record(value, path, ['package_id', 'tenant', 'producer', 'subject', 'retention_class', 'created_at', 'finalized_at', 'metadata']);
  return Object.freeze({
    package_id: identifier(v.package_id, `${path}.package_id`),
    tenant: identifier(v.tenant, `${path}.tenant`),
    producer: identifier(v.producer, `${path}.producer`),
    subject: identifier(v.subject, `${path}.subject`),
    retention_class: identifier(v.retention_class, `${path}.retention_class`),
    created_at: timestamp(v.created_at, `${path}.created_at`),
    finalized_at: timestamp(v.finalized_at, `${path}.finalized_at`),
    metadata: jsonObject(v.metadata, `${path}.metadata`),
  });
}

function manifestFile(value: unknown, path: string): ManifestFile {
  const v = record(value, path, ['relative_path', 'size', 'media_type', 'digests']);
  const d = record(v.digests, `${path}.digests`, ['blake3', 'sha256']);
  const digests: ManifestDigests = Object.freeze({
    blake3: digest(d.blake3, `${path}.digests.blake3`, 'blake3'),
    sha256: digest(d.sha256, `${path}.digests.sha256`, 'sha256'),
  });
  return Object.freeze({
    relative_path: relativePath(v.relative_path, `${path}.relative_path`),
    size: count(v.size, `${path}.size`),
    media_type: mediaType(v.media_type, `${path}.media_type`),
    digests,
  });
}

function manifestFiles(value: unknown, path: string): readonly ManifestFile[] {
  if (!Array.isArray(value)) fail(path, `expected an array, got ${describe(value)}`);
  const files: ManifestFile[] = [];
  const paths = new Set<string>();
  const contents = new Map<string, ManifestFile>();
  for (let i = 0; i < value.length; i++) {
    const at = `${path}[${i}]`;
    const file = manifestFile(value[i], at);
    const previous = files[i - 1];
    // Plain `<` on strings compares UTF-16 code units: the same order JCS uses for keys, and unlike
    // locale-aware comparison it never changes with the runtime's ICU data.
    if (previous !== undefined && !(previous.relative_path < file.relative_path)) {
      fail(`${at}.relative_path`, previous.relative_path === file.relative_path ? 'duplicate path' : 'files must be sorted by relative_path (UTF-16 code-unit order)');
    }
    files.push(file);
    paths.add(file.relative_path);
    const same = contents.get(file.digests.blake3);
    if (same === undefined) contents.set(file.digests.blake3, file);
    else if (same.digests.sha256 !== file.digests.sha256) fail(`${at}.digests.sha256`, `disagrees with another file that has the same BLAKE3 digest (${same.relative_path})`);
    else if (same.size !== file.size) fail(`${at}.size`, `disagrees with another file that has the same BLAKE3 digest (${same.relative_path})`);
  }
  // A path cannot name both a file and a directory, or the package could not be extracted.
  files.forEach((file, i) => {
    for (let slash = file.relative_path.indexOf('/'); slash !== -1; slash = file.relative_path.indexOf('/', slash + 1)) {
      const dir = file.relative_path.slice(0, slash);
      if (paths.has(dir)) fail(`${path}[${i}].relative_path`, `lies under ${JSON.stringify(dir)}, which is a file`);
    }
  });
  return Object.freeze(files);
}

function storageReceipts(value: unknown, path: string, files: readonly ManifestFile[]): readonly StorageReceipt[] {
  if (!Array.isArray(value)) fail(path, `expected an array, got ${describe(value)}`);
  const stored = new Set(files.map((f) => f.digests.blake3));
  const receipts: StorageReceipt[] = [];
  for (let i = 0; i < value.length; i++) {
    const at = `${path}[${i}]`;
    const v = record(value[i], at, ['content_address', 'backend_id', 'stored_at']);
    const receipt: StorageReceipt = Object.freeze({
      content_address: digest(v.content_address, `${at}.content_address`, 'blake3') satisfies Blake3Address,
      backend_id: identifier(v.backend_id, `${at}.backend_id`),
      stored_at: timestamp(v.stored_at, `${at}.stored_at`),
    });
    if (!stored.has(receipt.content_address)) fail(`${at}.content_address`, 'is not the blake3 digest of any file in the manifest');
    const previous = receipts[i - 1];
    if (previous !== undefined) {
      const order = compareReceipts(previous, receipt);
      if (order === 0) fail(at, 'duplicate receipt for the same content_address and backend_id');
      if (order > 0) fail(at, 'storage_receipts must be sorted by (content_address, backend_id)');
    }
    receipts.push(receipt);
  }
  return Object.freeze(receipts);
}

function compareReceipts(a: StorageReceipt, b: StorageReceipt): number {
  if (a.content_address !== b.content_address) return a.content_address < b.content_address ? -1 : 1;
  if (a.backend_id !== b.backend_id) return a.backend_id < b.backend_id ? -1 : 1;
  return 0;
}

function retentionSummary(value: unknown, path: string): RetentionSummary {
  const v = record(value, path, ['retention_class', 'expires_at', 'holds_active']);
  return Object.freeze({
    retention_class: identifier(v.retention_class, `${path}.retention_class`),
    expires_at: v.expires_at === null ? null : timestamp(v.expires_at, `${path}.expires_at`),
    holds_active: count(v.holds_active, `${path}.holds_active`),
  });
}

/**
 * Checks every v1 rule and returns a deep-frozen copy of the manifest holding only the v1 fields.
 *
 * Accepts any value (parsed JSON, decoded CBOR, a hand-built object). The version is checked first,
 * so a future manifest fails with `unsupported-version` rather than with complaints about its shape.
 * Throws `ManifestError` with code `invalid-manifest` (or `unsupported-version`) and the path of the
 * first offending field; object keys are checked in a fixed order, so the error is deterministic.
 */
export function validateManifest(value: unknown): Manifest {
  if (!isPlainObject(value)) fail('$', `expected a manifest object, got ${describe(value)}`);
  const version = value.manifest_version;
  if (typeof version === 'number' && version !== MANIFEST_VERSION) {
    throw new ManifestError('unsupported-version', '$.manifest_version', `manifest version ${version} is not supported (this code reads version ${MANIFEST_VERSION})`);
  }
  const v = record(value, '$', ['manifest_version', 'package', 'files', 'storage_receipts', 'retention_summary', 'provenance']);
  if (v.manifest_version !== MANIFEST_VERSION) fail('$.manifest_version', `expected the number ${MANIFEST_VERSION}, got ${describe(v.manifest_version)}`);
  const pkg = manifestPackage(v.package, '$.package');
  const files = manifestFiles(v.files, '$.files');
  return Object.freeze({
    manifest_version: MANIFEST_VERSION,
    package: pkg,
    files,
    storage_receipts: storageReceipts(v.storage_receipts, '$.storage_receipts', files),
    retention_summary: retentionSummary(v.retention_summary, '$.retention_summary'),
    provenance: jsonObject(v.provenance, '$.provenance'),
  });
}
