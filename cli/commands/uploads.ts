/**
 * `artifactstore uploads sweep [--backend ID] [--json] [--url URL]`: expires the abandoned upload
 * sessions whose deadline and grace period have passed, deleting their parts on the backends configured
 * here and recording `v1.upload.expired` for each (`data-plane/files/upload-sweep.ts`). Every data plane
 * runs the same sweep periodically (ARTIFACTSTORE_UPLOAD_SWEEP_INTERVAL); this runs it once, in the
 * data-plane role. Exit 0: nothing left behind; 2: some session could not be expired now.
 */
import { parseArgs } from 'node:util';
import { sweepUploads } from '../../data-plane/files/upload-sweep.ts';
import { UPLOADS_HELP } from '../command-help.ts';
import type { CommandIo } from '../command-io.ts';
import { openDataPlaneRole } from './data-plane-role.ts';

/** Runs `uploads <subcommand>`. */
export async function uploadsCommand(io: CommandIo, args: readonly string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== 'sweep') {
    io.err(`${UPLOADS_HELP.split('\n')[0] ?? ''} (unknown subcommand ${JSON.stringify(sub ?? '')})`);
    return 2;
  }
  const { values } = parseArgs({ args: rest, strict: true, options: { backend: { type: 'string' }, json: { type: 'boolean', default: false }, url: { type: 'string' } } });
  const role = await openDataPlaneRole(io, 'uploads sweep', { url: values.url, backendId: values.backend });
  if (role === undefined) return 2;
  const summary = await sweepUploads({
    backends: role.backends,
    transport: role.transport,
    onSession: (session, outcome, detail) => {
      if (values.json) return;
      if (outcome === 'error') io.err(`ERROR   ${session.uploadId} (${session.backendId}): ${detail}`);
      else io.progress(`${outcome} ${session.uploadId}: ${detail}`);
    },
  });
  if (values.json) {
    io.out(JSON.stringify({ expired: summary.expired, parts_deleted: summary.partsDeleted, skipped: summary.skipped, errors: summary.errors.map((e) => ({ upload_id: e.uploadId, detail: e.detail })) }));
  } else {
    io.out(`${summary.expired} expired, ${summary.partsDeleted} parts deleted, ${summary.skipped} skipped, ${summary.errors.length} not expired`);
  }
  return summary.errors.length > 0 ? 2 : 0;
}
