/**
 * The `kind = "s3"` table of `[storage.backends.<id>]` (see docs/storage-backends.md), parsed into a
 * typed value. Credentials are references (`env:NAME`, `file:PATH`), resolved only when the data plane
 * opens the backend, and never logged.
 */
import { validateKey } from '../keys.ts';
import { MAX_MULTIPART_CHUNK_BYTES, MIN_MULTIPART_CHUNK_BYTES, DEFAULT_MULTIPART_CHUNK_BYTES, DEFAULT_MULTIPART_THRESHOLD_BYTES } from './s3-limits.ts';

/** Where a secret comes from. */
export type SecretRef = { readonly kind: 'env'; readonly name: string } | { readonly kind: 'file'; readonly path: string };

/** A configured S3 backend. */
export interface S3BackendConfig {
  readonly kind: 's3';
  readonly id: string;
  readonly endpointUrl: string;
  readonly region: string;
  readonly bucket: string;
  readonly keyPrefix: string;
  readonly accessKeyRef: SecretRef;
  readonly secretKeyRef: SecretRef;
  readonly storageClass: string | undefined;
  readonly sse: 'AES256' | 'aws:kms' | undefined;
  readonly multipartThresholdBytes: number;
  readonly multipartChunkBytes: number;
}

/** Keys an s3 table may hold. */
export const S3_CONFIG_KEYS = [
  'kind',
  'endpoint_url',
  'region',
  'bucket',
  'key_prefix',
  'access_key_ref',
  'secret_key_ref',
  'storage_class',
  'sse',
  'multipart_threshold_bytes',
  'multipart_chunk_bytes',
] as const;

/** A bad value; `key` is the full dotted key (`storage.backends.ceph.bucket`). */
export class S3ConfigError extends Error {
  override readonly name = 'S3ConfigError';
}

/** Parses one s3 backend table; `where` is its dotted path (`storage.backends.<id>`). */
export function parseS3BackendConfig(id: string, table: Readonly<Record<string, unknown>>, where: string): S3BackendConfig {
  const str = (key: string, required: boolean): string | undefined => {
    const value = table[key];
    if (value === undefined) {
      if (required) throw new S3ConfigError(`${where}.${key} is required for an s3 backend`);
      return undefined;
    }
    if (typeof value !== 'string' || value.trim() === '') throw new S3ConfigError(`${where}.${key} must be a non-empty string`);
    return value.trim();
  };
  const endpointUrl = str('endpoint_url', true) ?? '';
  let url: URL;
  try {
    url = new URL(endpointUrl);
  } catch {
    throw new S3ConfigError(`${where}.endpoint_url must be an http:// or https:// URL, got ${JSON.stringify(endpointUrl)}`);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.username !== '' || url.password !== '') {
    throw new S3ConfigError(`${where}.endpoint_url must be an http:// or https:// URL without credentials in it`);
  }
  const bucket = str('bucket', true) ?? '';
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) throw new S3ConfigError(`${where}.bucket must be a valid bucket name (3-63 of a-z, 0-9, '.', '-'), got ${JSON.stringify(bucket)}`);
  const keyPrefix = (str('key_prefix', false) ?? '').replace(/^\/+|\/+$/g, '');
  if (keyPrefix !== '') {
    try {
      validateKey(keyPrefix);
    } catch {
      throw new S3ConfigError(`${where}.key_prefix must be slash-separated segments of [a-z0-9][a-z0-9._-]*, got ${JSON.stringify(keyPrefix)}`);
    }
  }
  const sse = str('sse', false);
  if (sse !== undefined && sse !== 'AES256' && sse !== 'aws:kms') throw new S3ConfigError(`${where}.sse must be "AES256" or "aws:kms"`);
  const chunk = bytes(table, 'multipart_chunk_bytes', where, DEFAULT_MULTIPART_CHUNK_BYTES);
  if (chunk < MIN_MULTIPART_CHUNK_BYTES || chunk > MAX_MULTIPART_CHUNK_BYTES) throw new S3ConfigError(`${where}.multipart_chunk_bytes must be between 5 MiB (${MIN_MULTIPART_CHUNK_BYTES}) and 5 GiB`);
  const threshold = bytes(table, 'multipart_threshold_bytes', where, DEFAULT_MULTIPART_THRESHOLD_BYTES);
  if (threshold > MAX_MULTIPART_CHUNK_BYTES) throw new S3ConfigError(`${where}.multipart_threshold_bytes must be at most 5 GiB`);
  return {
    kind: 's3',
    id,
    endpointUrl: endpointUrl.replace(/\/+$/, ''),
    region: str('region', false) ?? 'default',
    bucket,
    keyPrefix,
    accessKeyRef: secretRef(str('access_key_ref', true) ?? '', `${where}.access_key_ref`),
    secretKeyRef: secretRef(str('secret_key_ref', true) ?? '', `${where}.secret_key_ref`),
    storageClass: str('storage_class', false),
    sse,
    multipartThresholdBytes: threshold,
    multipartChunkBytes: chunk,
  };
}

/** Parses `env:NAME` or `file:PATH`; literal secrets are refused so they never sit in the config file. */
export function secretRef(text: string, key: string): SecretRef {
  if (text.startsWith('env:') && /^env:[A-Za-z_][A-Za-z0-9_]*$/.test(text)) return { kind: 'env', name: text.slice(4) };
  if (text.startsWith('file:') && text.length > 5) return { kind: 'file', path: text.slice(5) };
  throw new S3ConfigError(`${key} must be a reference "env:NAME" or "file:PATH" (secrets are never written into the config file)`);
}

function bytes(table: Readonly<Record<string, unknown>>, key: string, where: string, fallback: number): number {
  const value = table[key];
  if (value === undefined) return fallback;
  const n = typeof value === 'bigint' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw new S3ConfigError(`${where}.${key} must be a non-negative integer number of bytes`);
  return n;
}
