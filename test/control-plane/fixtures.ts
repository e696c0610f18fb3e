/**
 * Small helpers shared by the control-plane tests: register a data plane, record a file through
 * ControlService as a data plane would.
 */
import type { Client } from '@connectrpc/connect';
import { digestsOf } from '../registry/workload.ts';
import type { ControlService } from '../../gen/artifactstore/internal/v1/control_service_pb.ts';
import type { File } from '../../gen/artifactstore/v1/package_pb.ts';

/** Registers a data plane at `url`; returns its id. */
export async function registerDataPlane(control: Client<typeof ControlService>, url = 'http://127.0.0.1:9'): Promise<string> {
  const res = await control.registerDataPlane({ advertiseUrl: url, backendId: 'local' });
  return res.dataPlaneId;
}

/** Records a text file as if a data plane had stored it. */
export async function recordText(
  control: Client<typeof ControlService>,
  clientToken: string,
  packageId: string,
  relativePath: string,
  text: string,
  replace = false,
  upload: { readonly uploadId: string; readonly completionId: string } = { uploadId: '', completionId: '' },
): Promise<File> {
  const d = digestsOf(text);
  const res = await control.recordFile({
    clientToken,
    packageId,
    relativePath,
    mediaType: 'text/plain',
    digests: { blake3: d.blake3, sha256: d.sha256, size: BigInt(d.size) },
    backendId: 'local',
    storageKey: `blake3/${d.blake3.slice(7, 9)}/${d.blake3.slice(9, 11)}/${d.blake3.slice(7)}`,
    replace,
    uploadId: upload.uploadId,
    uploadCompletionId: upload.completionId,
  });
  if (res.file === undefined) throw new Error('no file in RecordFile response');
  return res.file;
}
