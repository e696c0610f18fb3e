/**
 * The two encodings a manifest is served in, shared by the GetManifest RPC and the HTTP routes:
 * the canonical CBOR bytes as stored (the bytes its digest covers) or their RFC 8785 JSON projection.
 */
import { decodeManifest } from '../../core/manifest/codec.ts';
import { manifestDigest } from '../../core/manifest/digest.ts';
import { manifestToJcs } from '../../core/manifest/jcs.ts';

/** A manifest ready to send. */
export interface RenderedManifest {
  readonly bytes: Uint8Array;
  /** `blake3:<hex>` of the CBOR encoding, whatever the format. */
  readonly digest: string;
  readonly contentType: 'application/cbor' | 'application/json';
}

/** Renders stored manifest CBOR bytes as `format`. */
export function renderManifest(cbor: Uint8Array, format: 'cbor' | 'json'): RenderedManifest {
  const digest = manifestDigest(cbor).toString();
  if (format === 'cbor') return { bytes: cbor, digest, contentType: 'application/cbor' };
  return { bytes: manifestToJcs(decodeManifest(cbor)), digest, contentType: 'application/json' };
}
