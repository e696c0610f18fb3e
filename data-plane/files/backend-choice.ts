/**
 * Which of this data plane's backends serves a backend id named by the control plane (the routing
 * rule's choice for a write, a recorded location for a read, an upload session's backend).
 */
import { DataPlaneError } from '../errors/data-plane-error.ts';
import type { StorageBackend } from '../storage/backend.ts';
import type { DataPlaneDeps } from './data-plane-deps.ts';

/** True when this data plane holds backend `backendId`. */
export function servesBackend(deps: DataPlaneDeps, backendId: string): boolean {
  return backendId === deps.backend.id || deps.backends?.has(backendId) === true;
}

/** The backend with `backendId` (`''`: the default one); `backend-unavailable` when this data plane has none. */
export function backendById(deps: DataPlaneDeps, backendId: string): StorageBackend {
  if (backendId === '' || backendId === deps.backend.id) return deps.backend;
  const backend = deps.backends?.get(backendId);
  if (backend === undefined) {
    throw new DataPlaneError('backend-unavailable', `backend "${backendId}" is not served by this data plane (it serves ${[deps.backend.id, ...(deps.backends?.keys() ?? [])].filter((id, i, all) => all.indexOf(id) === i).map((id) => `"${id}"`).join(', ')})`);
  }
  return backend;
}

/** `deps` with `backend` as the one file operations write to and read from. */
export function withBackend(deps: DataPlaneDeps, backend: StorageBackend): DataPlaneDeps {
  return backend === deps.backend ? deps : { ...deps, backend };
}
