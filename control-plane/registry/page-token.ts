/**
 * Opaque page tokens for keyset pagination: base64url of `{ k: last key, f: filter fingerprint }`.
 * The fingerprint ties a token to the query that produced it, so a token replayed with other filters
 * is refused instead of silently returning a wrong page. Tokens are not secret and not signed: all
 * they can do is start a listing after a given key, which the caller could ask for anyway.
 */
import { createHash } from 'node:crypto';
import { RegistryError } from './registry-error.ts';

/** A short fingerprint of the filter a listing runs with. */
export function filterFingerprint(filter: unknown): string {
  return createHash('sha256').update(JSON.stringify(filter)).digest('base64url').slice(0, 12);
}

/** Encodes the key a next page starts after. */
export function encodePageToken(lastKey: string, fingerprint: string): string {
  return Buffer.from(JSON.stringify({ k: lastKey, f: fingerprint }), 'utf8').toString('base64url');
}

/** Decodes a page token; undefined for the first page. Throws invalid-argument for a foreign or damaged token. */
export function decodePageToken(token: string | undefined, fingerprint: string): string | undefined {
  if (token === undefined || token === '') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch (err) {
    throw new RegistryError('invalid-argument', 'page_token is not a token this server issued', { cause: err });
  }
  if (parsed === null || typeof parsed !== 'object') throw new RegistryError('invalid-argument', 'page_token is not a token this server issued');
  const { k, f } = parsed as { k?: unknown; f?: unknown };
  if (typeof k !== 'string' || typeof f !== 'string') throw new RegistryError('invalid-argument', 'page_token is not a token this server issued');
  if (f !== fingerprint) throw new RegistryError('invalid-argument', 'page_token belongs to a listing with other filters');
  return k;
}

/** Clamps a requested page size: 0 means `fallback`, more than `max` is `max`. */
export function pageSize(requested: number | undefined, fallback: number, max: number): number {
  if (requested === undefined || requested === 0) return fallback;
  if (!Number.isSafeInteger(requested) || requested < 0) throw new RegistryError('invalid-argument', 'page_size must be a non-negative integer');
  return Math.min(requested, max);
}
