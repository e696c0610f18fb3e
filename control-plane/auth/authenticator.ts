/**
 * Who is calling and what they may do. Every entry point (Connect interceptor, HTTP routes, the
 * `client_token` a data plane forwards) goes through `authorize`, so the rules live in one place:
 *
 * | access     | client token                 | no token               | internal token |
 * |------------|------------------------------|------------------------|----------------|
 * | `public`   | allowed                      | allowed                | allowed        |
 * | `read`     | own tenant (admin: all)      | all if anonRead, else 401 | 403         |
 * | `write`    | own tenant (admin: all)      | 401                    | 403            |
 * | `admin`    | admin tokens only, else 403  | 401                    | 403            |
 * | `internal` | 403                          | 401                    | allowed        |
 *
 * An unknown or malformed token is 401 wherever a token is looked at (a caller with a mistyped token
 * learns about it at once instead of silently reading anonymously); `public` calls (health,
 * reflection) never look at it.
 */
import { ALL_TENANTS, type TenantScope } from '../registry/scope.ts';
import { AuthError } from './auth-error.ts';
import { hashSecret, secretsEqual, type TokenIdentity, type TokenStore } from './token-store.ts';

/** The kinds of access a call needs. */
export type Access = 'public' | 'read' | 'write' | 'admin' | 'internal';

/** The caller behind a request. */
export type Principal =
  | { readonly kind: 'client'; readonly identity: TokenIdentity }
  | { readonly kind: 'anonymous' }
  | { readonly kind: 'internal' };

/** An authorized caller: who, and which tenants the call may touch. */
export interface Caller {
  readonly principal: Principal;
  /** Tenants the call may see and change. */
  readonly scope: TenantScope;
  /** The tenant new packages are created in (client callers only). */
  readonly tenant: string | undefined;
}

/** Resolves credentials and applies the access rules. */
export interface Authenticator {
  /** The principal an `Authorization` header value names (null/empty: anonymous); throws 401 for a bad one. */
  identify(authorization: string | null | undefined): Principal;
  /** The principal a raw client token names (empty: anonymous); never the internal token. */
  identifyClientToken(token: string): Principal;
  /** Checks `principal` against `access`; throws AuthError when refused. */
  authorize(principal: Principal, access: Access): Caller;
}

/** Options of the authenticator. */
export interface AuthenticatorOptions {
  readonly tokens: TokenStore;
  readonly internalToken: string;
  readonly anonRead: boolean;
}

/** Creates the authenticator. */
export function createAuthenticator(options: AuthenticatorOptions): Authenticator {
  const internalHash = hashSecret(options.internalToken);

  function fromToken(token: string, allowInternal: boolean): Principal {
    if (token === '') return { kind: 'anonymous' };
    if (allowInternal && secretsEqual(token, internalHash)) return { kind: 'internal' };
    const identity = options.tokens.lookup(token);
    if (identity === undefined) throw new AuthError('unauthenticated', 'unknown bearer token');
    return { kind: 'client', identity };
  }

  return {
    identify(authorization) {
      if (authorization === null || authorization === undefined || authorization === '') return { kind: 'anonymous' };
      const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization);
      if (m === null) throw new AuthError('unauthenticated', 'Authorization must be "Bearer <token>"');
      return fromToken(m[1]!, true);
    },

    identifyClientToken: (token) => fromToken(token.trim(), false),

    authorize(principal, access) {
      const none: Caller = { principal, scope: ALL_TENANTS, tenant: undefined };
      if (access === 'public') return none;
      switch (principal.kind) {
        case 'internal':
          if (access === 'internal') return none;
          throw new AuthError('permission-denied', 'the internal token is for data planes only');
        case 'anonymous':
          if (access === 'read' && options.anonRead) return none;
          throw new AuthError('unauthenticated', 'a bearer token is required');
        case 'client': {
          if (access === 'internal') throw new AuthError('permission-denied', 'this service is for data planes only');
          const { tenant, admin } = principal.identity;
          if (access === 'admin' && !admin) throw new AuthError('permission-denied', 'this call needs an admin token');
          return { principal, scope: admin ? ALL_TENANTS : tenant, tenant };
        }
      }
    },
  };
}
