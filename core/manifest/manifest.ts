/**
 * The v1 package manifest: the one document that says what a preserved package contains.
 *
 * Its canonical CBOR bytes are stored for years and their BLAKE3 digest is the manifest's identity
 * (see codec.ts, digest.ts and docs/adr/0003-canonical-cbor.md), so the shape below is frozen: field
 * names are written exactly as encoded (snake_case), every field is required, and a change of shape
 * is a new `manifest_version`, never an edit of v1. Validation rules live in validate.ts; the types
 * here are plain readonly data so that a manifest can be built, compared and logged without a codec.
 *
 * Value domain: JSON only. No byte strings, no undefined, no NaN/±Infinity, no -0, no integers outside
 * ±(2^53 − 1), no lone UTF-16 surrogates. Inside that domain every manifest has exactly one CBOR
 * encoding and exactly one RFC 8785 (JCS) encoding, and the two project onto each other losslessly.
 */
import { CodedError } from '../errors/coded-error.ts';

/** The only manifest version this code writes or reads. */
export const MANIFEST_VERSION = 1;

/** A JSON value as allowed in free-form manifest fields (`metadata`, `provenance`). */
export type JsonValue = null | boolean | number | string | readonly JsonValue[] | JsonObject;

/** A JSON object as allowed in free-form manifest fields. */
export type JsonObject = { readonly [key: string]: JsonValue };

/** A BLAKE3 content address: `blake3:` followed by 64 lower-case hex characters. */
export type Blake3Address = `blake3:${string}`;

/** A SHA-256 digest: `sha256:` followed by 64 lower-case hex characters. */
export type Sha256Address = `sha256:${string}`;

/**
 * A timestamp in the one spelling `formatTimestamp` writes: RFC 3339, UTC, millisecond precision,
 * fixed width (`2026-11-23T10:34:00.000Z`). Kept as text so that the stored bytes never depend on a
 * date library's formatting.
 */
export type Timestamp = string;

/**
 * Facts about the package as a whole, fixed when it was finalized.
 *
 * There is deliberately no lifecycle `status`: a manifest is written once, at finalization, so the
 * status would always read "finalized"; later changes (holds, expiry, deletion) are events in the
 * log, not edits of a document whose digest is its identity.
 */
export type ManifestPackage = {
  /** The package's identifier, as issued by the registry. Non-empty, no control characters. */
  readonly package_id: string;
  /** The tenant that owns the package. Non-empty, no control characters. */
  readonly tenant: string;
  /** Who produced the evidence (a CI system, a tool, a team). Non-empty, no control characters. */
  readonly producer: string;
  /** What the evidence is about (a build, a release, an assessment). Non-empty, no control characters. */
  readonly subject: string;
  /** The retention class the package was created with. Non-empty, no control characters. */
  readonly retention_class: string;
  /** When the package was opened. */
  readonly created_at: Timestamp;
  /** When the package was finalized and this manifest written. */
  readonly finalized_at: Timestamp;
  /** Producer-supplied labels; free-form JSON. */
  readonly metadata: JsonObject;
};

/** Both digests of one file's bytes. */
export type ManifestDigests = {
  /** BLAKE3 of the bytes: the content address the bytes are stored under. */
  readonly blake3: Blake3Address;
  /** SHA-256 of the same bytes, for interoperability (OCI, sha256sum). */
  readonly sha256: Sha256Address;
};

/** One file of the package. */
export type ManifestFile = {
  /**
   * Path inside the package: `/`-separated, no leading or trailing `/`, no empty, `.` or `..`
   * segments, no NUL. Compared and sorted as UTF-16 code units; not Unicode-normalized (the path is
   * evidence and is kept exactly as produced).
   */
  readonly relative_path: string;
  /** Size in bytes: a non-negative safe integer. */
  readonly size: number;
  /** RFC 6838 media type; `type/subtype` in lower case, optional parameters kept as given. */
  readonly media_type: string;
  /** Digests of the file's bytes. */
  readonly digests: ManifestDigests;
};

/** Evidence that one content address was durably stored on one backend. */
export type StorageReceipt = {
  /** The BLAKE3 content address that was stored; always the `blake3` digest of a file in the manifest. */
  readonly content_address: Blake3Address;
  /** The storage backend that holds the bytes. Non-empty, no control characters. */
  readonly backend_id: string;
  /** When the backend confirmed the write. */
  readonly stored_at: Timestamp;
};

/**
 * Retention as computed when the manifest was written. It may differ from `package.retention_class`
 * when policy applied a different effective class; later changes are events, not manifest edits.
 */
export type RetentionSummary = {
  /** The effective retention class. Non-empty, no control characters. */
  readonly retention_class: string;
  /** When the package may be deleted, or null when it is kept until further notice. */
  readonly expires_at: Timestamp | null;
  /** Number of legal or administrative holds active at finalization: a non-negative safe integer. */
  readonly holds_active: number;
};

/** A v1 manifest, exactly as encoded. */
export type ManifestV1 = {
  /** Always 1; any other value is `unsupported-version`. */
  readonly manifest_version: typeof MANIFEST_VERSION;
  /** Package-level facts. */
  readonly package: ManifestPackage;
  /** The files, sorted by `relative_path` in UTF-16 code-unit order, paths unique. */
  readonly files: readonly ManifestFile[];
  /** Storage receipts, sorted by (`content_address`, `backend_id`), pairs unique. */
  readonly storage_receipts: readonly StorageReceipt[];
  /** Retention at finalization. */
  readonly retention_summary: RetentionSummary;
  /** Free-form facts from the producer: tool, versions, source commits, build inputs. */
  readonly provenance: JsonObject;
};

/** The current manifest type. A future version will turn this into a union discriminated by `manifest_version`. */
export type Manifest = ManifestV1;

/** Stable codes for manifest failures. */
export type ManifestErrorCode =
  /** The bytes are not CBOR (or JSON) in the supported subset at all: truncated, trailing bytes, tags, duplicate keys. */
  | 'malformed'
  /** Well-formed, but not the one canonical encoding (key order, integer or float width, JSON spacing). */
  | 'non-canonical'
  /** A `manifest_version` this code does not know. */
  | 'unsupported-version'
  /** Canonical bytes (or an in-memory value) whose content breaks a manifest rule. */
  | 'invalid-manifest';

/** Raised by every manifest codec, with a stable code and the path of the offending field. */
export class ManifestError extends CodedError<ManifestErrorCode> {
  override readonly name = 'ManifestError';
  /** Path of the offending field in `$.files[2].digests.sha256` form; `$` for the whole document. */
  readonly path: string;
  constructor(code: ManifestErrorCode, path: string, message: string, options?: { cause?: unknown }) {
    super(code, `${path}: ${message}`, options);
    this.path = path;
  }
}
