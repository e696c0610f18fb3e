/**
 * Loads the frozen golden vectors in test/manifest/golden/ (see the README there: never regenerate).
 */
import { readFileSync, readdirSync } from 'node:fs';
import type { Manifest } from '../../core/manifest/manifest.ts';
import { validateManifest } from '../../core/manifest/validate.ts';

const dir = new URL('./golden/', import.meta.url);

/** Every vector; the golden test also checks that this list matches the folder. */
export const GOLDEN_NAMES = ['minimal', 'typical', 'unicode', 'numbers'] as const;

/** Name of one golden vector. */
export type GoldenName = (typeof GOLDEN_NAMES)[number];

/** One golden vector, read from disk. */
export type GoldenVector = {
  /** The input file parsed with JSON.parse, unvalidated. */
  readonly input: unknown;
  /** The input as a validated manifest. */
  readonly manifest: Manifest;
  /** The frozen CBOR bytes. */
  readonly cbor: Uint8Array;
  /** The same bytes as lower-case hex. */
  readonly cborHex: string;
  /** The frozen JCS bytes. */
  readonly jcs: Uint8Array;
  /** The frozen manifest digest, `blake3:<hex>`. */
  readonly digest: string;
};

function readText(file: string, shape: RegExp): string {
  const text = readFileSync(new URL(file, dir), 'utf8');
  // The frozen files have one exact shape; anything else means someone edited them by hand.
  if (!shape.test(text)) throw new Error(`golden file ${file} does not have the expected shape ${String(shape)}`);
  return text.slice(0, -1);
}

/** Reads one vector, failing loudly if a file is missing or reshaped. */
export function loadGolden(name: GoldenName): GoldenVector {
  const input: unknown = JSON.parse(readFileSync(new URL(`${name}.input.json`, dir), 'utf8'));
  const cborHex = readText(`${name}.cbor.hex`, /^(?:[0-9a-f]{2})+\n$/);
  return {
    input,
    manifest: validateManifest(input),
    cbor: new Uint8Array(Buffer.from(cborHex, 'hex')),
    cborHex,
    jcs: new Uint8Array(readFileSync(new URL(`${name}.jcs.json`, dir))),
    digest: readText(`${name}.digest`, /^blake3:[0-9a-f]{64}\n$/),
  };
}

/** Names of the vectors present on disk, from their `.input.json` files. */
export function goldenNamesOnDisk(): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.input.json'))
    .map((f) => f.slice(0, -'.input.json'.length))
    .sort();
}
