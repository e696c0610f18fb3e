/**
 * Which tenants a registry call may see. A caller's token resolves to one tenant; an admin token (or
 * anonymous reads when the operator opened them) sees every tenant. A package outside the scope is
 * reported as not found, never as forbidden, so ids of other tenants' packages leak nothing.
 */

/** The scope of a caller who may see every tenant. */
export const ALL_TENANTS: unique symbol = Symbol('all-tenants');

/** One tenant's name, or every tenant. */
export type TenantScope = string | typeof ALL_TENANTS;

/** True when a row owned by `tenant` is visible in `scope`. */
export function inScope(scope: TenantScope, tenant: string): boolean {
  return scope === ALL_TENANTS || scope === tenant;
}
