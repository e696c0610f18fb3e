/**
 * Both digests of bytes the CLI reads (a download, a file already in place), in the registry's form
 * (`sha256:<hex>`, `blake3:<hex>`), with their count.
 */
import { createHash } from 'node:crypto';
import { createHash as createBlake3 } from 'blake3';

/** Size and both digests, as the registry writes them. */
export interface DualDigests {
  readonly size: number;
  readonly sha256: string;
  readonly blake3: string;
}

/** Feeds chunks to SHA-256 and BLAKE3 at once. */
export interface DualHasher {
  update(chunk: Uint8Array): void;
  /** The digests of everything fed so far; call once. */
  digests(): DualDigests;
}

/** A new {@link DualHasher}. */
export function createDualHasher(): DualHasher {
  const sha256 = createHash('sha256');
  const blake3 = createBlake3();
  let size = 0;
  return {
    update(chunk) {
      sha256.update(chunk);
      blake3.update(chunk);
      size += chunk.byteLength;
    },
    digests: () => ({ size, sha256: `sha256:${sha256.digest('hex')}`, blake3: `blake3:${blake3.digest().toString('hex')}` }),
  };
}
