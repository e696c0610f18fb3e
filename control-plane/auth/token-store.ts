/**
 * Client bearer tokens: where they come from (a JSON file, an environment variable) and how a
 * presented token is looked up. Tokens are kept only as SHA-256 hashes; lookup hashes the presented
 * token and finds the entry by hash, then compares the two hashes with `timingSafeEqual`, so the
 * time taken does not depend on how much of a secret the caller guessed right.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';

/** Who a token belongs to. */
export interface TokenIdentity {
  /** Tenant whose packages the token reads and writes. */
  readonly tenant: string;
  /** Human name of the client (for logs). */
  readonly name: string;
  /** Admin tokens read every tenant's packages and events. */
  readonly admin: boolean;
}

/** A token and its owner, as configured. */
export interface TokenEntry extends TokenIdentity {
  readonly token: string;
}

/** Resolves presented tokens. */
export interface TokenStore {
  /** The identity of `token`, or undefined when it is not configured. */
  lookup(token: string): TokenIdentity | undefined;
  /** Number of configured tokens. */
  readonly size: number;
}

/** SHA-256 of a secret, for storage and constant-time comparison. */
export function hashSecret(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

/** True when `presented` equals `expected`, compared in constant time over their hashes. */
export function secretsEqual(presented: string, expected: Buffer): boolean {
  return timingSafeEqual(hashSecret(presented), expected);
}

const LABEL = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

function checkEntry(where: string, raw: unknown): TokenEntry {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new Error(`${where} must be an object { token, tenant, name, admin? }`);
  const { token, tenant, name, admin } = raw as Record<string, unknown>;
  if (typeof token !== 'string' || token.length < 16 || /\s/.test(token)) throw new Error(`${where}.token must be a string of at least 16 characters without whitespace`);
  if (typeof tenant !== 'string' || !LABEL.test(tenant)) throw new Error(`${where}.tenant must match ${LABEL.source}`);
  if (typeof name !== 'string' || name === '') throw new Error(`${where}.name must be a non-empty string`);
  if (admin !== undefined && typeof admin !== 'boolean') throw new Error(`${where}.admin must be true or false`);
  return { token, tenant, name, admin: admin === true };
}

/** Parses a tokens file's text (`[{ "token", "tenant", "name", "admin"? }]`); errors name `source` and the entry. */
export function parseTokensJson(text: string, source: string): TokenEntry[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new Error(`${source}: not valid JSON (${(err as Error).message})`, { cause: err });
  }
  if (!Array.isArray(parsed)) throw new Error(`${source}: must be a JSON array of { token, tenant, name, admin? }`);
  return parsed.map((e, i) => checkEntry(`${source}[${i}]`, e));
}

/** Reads and parses a tokens file. */
export async function readTokensFile(path: string): Promise<TokenEntry[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new Error(`ARTIFACTSTORE_TOKENS_FILE: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { cause: err });
  }
  return parseTokensJson(text, `ARTIFACTSTORE_TOKENS_FILE (${path})`);
}

/** Parses `tenant:name:token,...` (the token may itself contain `:`); such tokens are never admin. */
export function parseTokensEnv(value: string): TokenEntry[] {
  return value
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .map((part, i) => {
      const [tenant, name, ...rest] = part.split(':');
      return checkEntry(`ARTIFACTSTORE_TOKENS entry ${i + 1}`, { tenant, name, token: rest.join(':') });
    });
}

/** Builds the store; refuses a token configured twice. */
export function createTokenStore(entries: readonly TokenEntry[]): TokenStore {
  const byHash = new Map<string, { hash: Buffer; identity: TokenIdentity }>();
  for (const e of entries) {
    const hash = hashSecret(e.token);
    const key = hash.toString('hex');
    if (byHash.has(key)) throw new Error(`token of ${e.tenant}/${e.name} is configured twice`);
    byHash.set(key, { hash, identity: { tenant: e.tenant, name: e.name, admin: e.admin } });
  }
  return {
    size: byHash.size,
    lookup(token) {
      const hash = hashSecret(token);
      const found = byHash.get(hash.toString('hex'));
      return found !== undefined && timingSafeEqual(found.hash, hash) ? found.identity : undefined;
    },
  };
}
