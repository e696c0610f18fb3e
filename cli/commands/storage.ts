/**
 * `artifactstore storage verify [--backend ID] [--json]`: re-reads every recorded copy on the storage
 * backends, recomputes both digests, and records each outcome through the control plane
 * (`v1.storage.location_verified` / `v1.storage.location_failed`). It runs in the data-plane role, on a
 * host with the operator configuration (`ARTIFACTSTORE_CONFIG`, for the backends and their credential
 * references) and the internal token (`ARTIFACTSTORE_INTERNAL_TOKEN` or `<data dir>/internal-token`).
 * Exit 0: everything verified; 1: a copy failed; 2: a copy could not be checked, or the run could not
 * go on at all (the control plane unreachable): never 1 for a failure that is not a damaged copy.
 */
import { parseArgs } from 'node:util';
import { verifyStorage } from '../../data-plane/verify/verify-storage.ts';
import type { CommandIo } from '../command-io.ts';
import { openDataPlaneRole } from './data-plane-role.ts';

/** Runs `storage <subcommand>`. */
export async function storageCommand(io: CommandIo, args: readonly string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== 'verify') {
    io.err(`usage: artifactstore storage verify [--backend ID] [--json] (unknown subcommand ${JSON.stringify(sub ?? '')})`);
    return 2;
  }
  const { values } = parseArgs({ args: rest, strict: true, options: { backend: { type: 'string' }, json: { type: 'boolean', default: false }, url: { type: 'string' } } });
  const role = await openDataPlaneRole(io, 'storage verify', { url: values.url, backendId: values.backend });
  if (role === undefined) return 2;
  let summary: Awaited<ReturnType<typeof verifyStorage>>;
  try {
    summary = await verifyStorage({
      backends: role.backends,
      transport: role.transport,
      ...(values.backend === undefined ? {} : { backendId: values.backend }),
      onChecked: (location, outcome, detail) => {
        if (!values.json && outcome !== 'verified') io.err(`${outcome === 'failed' ? 'FAILED' : 'ERROR '} ${location.backendId} ${location.storageKey}: ${detail}`);
      },
    });
  } catch (error) {
    io.err(`storage verify: stopped, nothing more could be checked: ${error instanceof Error ? error.message : String(error)}`);
    return 2;
  }
  if (values.json) {
    io.out(JSON.stringify({ checked: summary.checked, verified: summary.verified, failed: summary.failed.map((f) => ({ content_address: f.contentAddress, backend_id: f.backendId, storage_key: f.storageKey, reason: f.reason, detail: f.detail })), errors: summary.errors.length }));
  } else {
    io.out(`${summary.checked} checked, ${summary.verified} verified, ${summary.failed.length} failed, ${summary.errors.length} not checked`);
  }
  return summary.failed.length > 0 ? 1 : summary.errors.length > 0 ? 2 : 0;
}
