/**
 * A manifest's identity: BLAKE3 over its canonical CBOR bytes, written `blake3:<hex>`.
 *
 * Over the CBOR bytes rather than the JCS bytes because CBOR is the stored form: whoever holds the
 * stored manifest can check its identity without re-serializing anything.
 */
import { blake3OneShot } from '../identity/blake3-oneshot.ts';
import { Digest } from '../identity/digest.ts';
import { decodeManifest, encodeManifest } from './codec.ts';
import type { Manifest } from './manifest.ts';

/**
 * Returns the manifest digest of a manifest value or of its canonical CBOR bytes.
 *
 * Bytes are decoded and validated first, so only a valid canonical manifest ever gets an identity;
 * throws `ManifestError` otherwise (see `decodeManifest` and `encodeManifest` for the codes).
 */
export function manifestDigest(manifest: Manifest | Uint8Array): Digest {
  let bytes: Uint8Array;
  if (manifest instanceof Uint8Array) {
    decodeManifest(manifest);
    bytes = manifest;
  } else {
    bytes = encodeManifest(manifest);
  }
  return Digest.fromBytes('blake3', blake3OneShot(bytes));
}
