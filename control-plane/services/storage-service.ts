/**
 * StorageService handlers (internal token only): listing recorded copies for `storage verify` and
 * recording each copy's check. Translates transport to `StorageLocations` calls and nothing more.
 */
import type { ServiceImpl } from '@connectrpc/connect';
import type { StorageService } from '../../gen/artifactstore/internal/v1/storage_service_pb.ts';
import { RegistryError } from '../registry/registry-error.ts';
import { LOCATION_FAILURES, type LocationFailure, type StorageLocations } from '../registry/storage-locations.ts';

/** Creates the StorageService implementation. */
export function createStorageService(deps: { readonly locations: StorageLocations }): ServiceImpl<typeof StorageService> {
  const { locations } = deps;
  return {
    async listStorageLocations(req) {
      const page = await locations.list({ backendId: req.backendId }, { pageToken: req.pageToken, pageSize: req.pageSize });
      return {
        locations: page.items.map((l) => ({ contentAddress: l.contentAddress, backendId: l.backendId, storageKey: l.storageKey, size: BigInt(l.size), sha256: l.sha256, status: l.status })),
        nextPageToken: page.nextPageToken,
      };
    },

    async recordLocationCheck(req) {
      if (req.ok) {
        const result = await locations.recordCheck({ contentAddress: req.contentAddress, backendId: req.backendId, ok: true });
        return { status: result.status, sequence: BigInt(result.sequence) };
      }
      if (!(LOCATION_FAILURES as readonly string[]).includes(req.reason)) throw new RegistryError('invalid-argument', `reason must be one of ${LOCATION_FAILURES.join(', ')}`);
      const result = await locations.recordCheck({ contentAddress: req.contentAddress, backendId: req.backendId, ok: false, reason: req.reason as LocationFailure, detail: req.detail });
      return { status: result.status, sequence: BigInt(result.sequence) };
    },
  };
}
