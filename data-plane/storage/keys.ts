/**
 * Storage keys and their layout.
 *
 * Layout version 1. Keys are relative, slash-separated strings; each backend puts them under its own
 * root (a directory, a bucket prefix, a map) and owns whatever it keeps beside them:
 *
 *   <backend root>/
 *   ├── .staging/                 backend-private staging area; never a key, because no segment may
 *   │   └── <random>              start with '.'; holds uncommitted writes only
 *   └── <algorithm>/              registered digest algorithm name, e.g. blake3, sha256
 *       └── <hex[0:2]>/           first byte of the digest: 256-way fan-out keeps directories small
 *           └── <hex[2:4]>/       second byte: 65,536 leaf directories in all
 *               └── <hex>         one immutable object; its <algorithm> digest is <hex>
 *
 * Example: blake3/ab/cd/abcd0123…(64 hex characters in all).
 *
 * Changing this drawing means a new layout version and a migration of every stored object: keys are
 * written into stores that must stay readable for years.
 */
import { Digest } from '../../core/identity/digest.ts';
import { StorageError } from './errors.ts';

/** Version of the key layout drawn above. */
export const KEY_LAYOUT_VERSION = 1;

/** Longest accepted key, in characters (all characters are ASCII, so also bytes). */
export const MAX_KEY_LENGTH = 1024;

/** Longest accepted segment; 255 bytes is NAME_MAX on common filesystems. */
export const MAX_SEGMENT_LENGTH = 255;

// Lower-case ASCII only: keys must mean the same on case-insensitive filesystems and object stores, and
// a leading character other than '.' rules out '.', '..', hidden files and the staging directory at once.
const SEGMENT_PATTERN = '[a-z0-9][a-z0-9._-]*';
const SEGMENT = new RegExp(`^${SEGMENT_PATTERN}$`);
/** A whole key: segments as above, joined by '/' (one test instead of a split and a test per segment). */
const KEY = new RegExp(`^${SEGMENT_PATTERN}(?:/${SEGMENT_PATTERN})*$`);

/** True when `segment` is acceptable as one segment of a key. */
export function isValidKeySegment(segment: string): boolean {
  return segment.length <= MAX_SEGMENT_LENGTH && SEGMENT.test(segment);
}

/**
 * Checks that `key` is a storage key and returns it unchanged; throws `invalid-key` otherwise.
 *
 * A key is one or more segments joined by '/', each matching `[a-z0-9][a-z0-9._-]*`: no empty, absolute
 * or trailing-slash keys, no '.' or '..' segments, no upper case, backslash, NUL or control characters.
 * Deliberately stricter than any medium needs, so the same key is valid on every backend.
 */
export function validateKey(key: string): string {
  if (typeof key !== 'string' || key.length === 0) throw invalidKey(key, 'key is empty');
  if (key.length > MAX_KEY_LENGTH) throw invalidKey(key, `key is longer than ${MAX_KEY_LENGTH} characters`);
  // A key no longer than a segment's limit cannot hold a segment over it: the lengths need a look only
  // beyond that (a content key is 75 characters).
  if (!KEY.test(key) || (key.length > MAX_SEGMENT_LENGTH && key.split('/').some((segment) => segment.length > MAX_SEGMENT_LENGTH))) {
    throw invalidKey(key, 'each segment must match [a-z0-9][a-z0-9._-]* and be at most 255 characters');
  }
  return key;
}

/** The key under which content with `digest` is stored: `<algorithm>/<hex[0:2]>/<hex[2:4]>/<hex>`. */
export function contentKey(digest: Digest): string {
  return `${digest.algorithm}/${digest.hex.slice(0, 2)}/${digest.hex.slice(2, 4)}/${digest.hex}`;
}

/**
 * The digest a content key names, or undefined when `key` is not a content key of this layout
 * (for example a garbage collector walking `list('')` meets a key some other layout version wrote).
 */
export function parseContentKey(key: string): Digest | undefined {
  const parts = key.split('/');
  if (parts.length !== 4) return undefined;
  const [algorithm, first, second, hex] = parts as [string, string, string, string];
  if (!Digest.isValid(`${algorithm}:${hex}`)) return undefined;
  const digest = Digest.fromHex(algorithm, hex);
  return contentKey(digest) === `${algorithm}/${first}/${second}/${hex}` ? digest : undefined;
}

function invalidKey(key: unknown, reason: string): StorageError {
  // The key may hold control characters or be huge: show a bounded, escaped form.
  const shown = typeof key === 'string' ? JSON.stringify(key.slice(0, 80)) : typeof key;
  return new StorageError('invalid-key', `invalid storage key ${shown}: ${reason}`);
}
