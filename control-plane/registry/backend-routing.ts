/**
 * The control plane's half of backend routing: which backend new files of a package go to, by the
 * operator's `[storage.routing]` rules (a function of the package's retention class and producer).
 * With no rules every file goes to the default backend and no package is looked up.
 */
import { routeBackend, type StorageConfig } from '../../data-plane/storage/config/storage-config.ts';
import type { Registry, TenantScope } from './registry.ts';

/** Picks the backend of new files. */
export interface BackendRouting {
  /** The backend id for a new file of `packageId` (the package must be in `tenant`'s scope). */
  backendFor(tenant: TenantScope, packageId: string): Promise<string>;
}

/** Creates the routing over the registry's packages. */
export function createBackendRouting(config: StorageConfig, registry: Pick<Registry, 'getPackage'>): BackendRouting {
  return {
    async backendFor(tenant, packageId) {
      if (config.rules.length === 0) return config.defaultBackend;
      const pkg = await registry.getPackage(tenant, packageId);
      return routeBackend(config, { retentionClass: pkg.retentionClass, producer: pkg.producer });
    },
  };
}
