/**
 * The digest algorithm registry. A content address names its algorithm, so the set of names is part of
 * every stored key and manifest: names are lower-case, never reused, and a new algorithm is only ever added.
 */

/** Facts about one digest algorithm that parsing and formatting need. */
export interface DigestAlgorithm {
  /** The name written before the colon of a content address, e.g. `blake3`. */
  readonly name: AlgorithmName;
  /** Digest length in bytes (the hex form is twice as long). */
  readonly byteLength: number;
}

/** Names of the registered algorithms. */
export type AlgorithmName = 'blake3' | 'sha256';

/** The primary algorithm: content is stored under its BLAKE3 address (ADR 0001). */
export const PRIMARY_ALGORITHM: AlgorithmName = 'blake3';

const registry: ReadonlyMap<string, DigestAlgorithm> = new Map<string, DigestAlgorithm>([
  ['blake3', Object.freeze({ name: 'blake3', byteLength: 32 })],
  ['sha256', Object.freeze({ name: 'sha256', byteLength: 32 })],
]);

/** Returns the registered algorithm called `name`, or undefined when there is none. */
export function findAlgorithm(name: string): DigestAlgorithm | undefined {
  return registry.get(name);
}

/** Every registered algorithm, primary first. */
export function listAlgorithms(): readonly DigestAlgorithm[] {
  return [...registry.values()];
}
