/**
 * Refuses any RPC request that carries U+0000 (NUL) in a string or a map key, before a handler runs.
 *
 * Why at the edge: PostgreSQL text and jsonb cannot hold NUL, so such a value reached the database as
 * an encoding error and the caller got `internal` (a package id of `"pkg\0"`, a producer filter, a
 * metadata key). No field of the API has a use for it, so one check covers every method and every
 * field, including ones added later.
 */
import type { Interceptor } from '@connectrpc/connect';
import { RegistryError } from '../registry/registry-error.ts';

/** The path of the first string (or key) in `value` that contains NUL, or undefined. */
export function findNul(value: unknown, path = ''): string | undefined {
  if (typeof value === 'string') return value.includes('\u0000') ? path || '(message)' : undefined;
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array) return undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findNul(value[i], `${path}[${i}]`);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  for (const [key, inner] of Object.entries(value)) {
    if (key === '$typeName') continue;
    const at = path === '' ? key : `${path}.${key}`;
    if (key.includes('\u0000')) return at;
    const found = findNul(inner, at);
    if (found !== undefined) return found;
  }
  return undefined;
}

function check(message: unknown): void {
  const at = findNul(message);
  if (at !== undefined) throw new RegistryError('invalid-argument', `${JSON.stringify(at)}: text must not contain U+0000 (NUL)`);
}

async function* checked<T>(messages: AsyncIterable<T>): AsyncIterable<T> {
  for await (const message of messages) {
    check(message);
    yield message;
  }
}

/** The interceptor; place it inside the error and auth interceptors. */
export function createNulGuardInterceptor(): Interceptor {
  return (next) => (req) => {
    if (!req.stream) {
      check(req.message);
      return next(req);
    }
    return next({ ...req, message: checked(req.message) });
  };
}
