/**
 * Digest values and their `<algorithm>:<lower-case hex>` content-address form.
 *
 * The string form is written into storage keys, manifests and events that must stay readable for
 * years, so the parser accepts exactly one spelling per digest: a registered algorithm, one colon,
 * lower-case hex of that algorithm's exact length, and nothing else (no whitespace, no upper case).
 */
import { CodedError } from '../errors/coded-error.ts';
import { findAlgorithm, type AlgorithmName } from './algorithms.ts';

/** Stable codes for digest parsing failures. */
export type DigestErrorCode = 'unknown-algorithm' | 'malformed-digest';

/** Raised when a string or byte array is not a valid digest. */
export class DigestError extends CodedError<DigestErrorCode> {
  override readonly name = 'DigestError';
}

/** An immutable digest: algorithm name plus lower-case hex. Compare with `equals` or by `toString()`. */
export class Digest {
  /** Registered algorithm name. */
  readonly algorithm: AlgorithmName;
  /** Lower-case hex of the digest bytes. */
  readonly hex: string;

  private constructor(algorithm: AlgorithmName, hex: string) {
    this.algorithm = algorithm;
    this.hex = hex;
    Object.freeze(this);
  }

  /** Parses `<algorithm>:<hex>`, rejecting anything that is not the one canonical spelling. */
  static parse(text: string): Digest {
    const colon = text.indexOf(':');
    if (colon <= 0) throw new DigestError('malformed-digest', `not a content address (expected <algorithm>:<hex>): ${JSON.stringify(text.slice(0, 80))}`);
    return Digest.fromHex(text.slice(0, colon), text.slice(colon + 1));
  }

  /** Builds a digest from an algorithm name and hex, validating both. */
  static fromHex(algorithm: string, hex: string): Digest {
    const algo = findAlgorithm(algorithm);
    if (algo === undefined) throw new DigestError('unknown-algorithm', `unknown digest algorithm ${JSON.stringify(algorithm.slice(0, 40))}`);
    if (hex.length !== algo.byteLength * 2 || !/^[0-9a-f]+$/.test(hex)) {
      throw new DigestError('malformed-digest', `${algo.name} digest must be ${algo.byteLength * 2} lower-case hex characters`);
    }
    return new Digest(algo.name, hex);
  }

  /** Builds a digest from raw bytes of the algorithm's exact length. */
  static fromBytes(algorithm: string, bytes: Uint8Array): Digest {
    return Digest.fromHex(algorithm, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex'));
  }

  /** Returns true when `text` parses as a digest. */
  static isValid(text: string): boolean {
    try {
      Digest.parse(text);
      return true;
    } catch {
      return false;
    }
  }

  /** The raw digest bytes. */
  bytes(): Uint8Array {
    return new Uint8Array(Buffer.from(this.hex, 'hex'));
  }

  /** True when both name the same algorithm and bytes. */
  equals(other: Digest): boolean {
    return this.algorithm === other.algorithm && this.hex === other.hex;
  }

  /** The content-address form `<algorithm>:<hex>`. */
  toString(): string {
    return `${this.algorithm}:${this.hex}`;
  }

  /** JSON form is the content address string. */
  toJSON(): string {
    return this.toString();
  }
}

/** The two digests computed for every stored byte sequence. */
export interface DualDigest {
  /** BLAKE3, the primary content address. */
  readonly blake3: Digest;
  /** SHA-256, kept for interoperability (OCI, sha256sum). */
  readonly sha256: Digest;
  /** Number of bytes hashed. */
  readonly size: number;
}
