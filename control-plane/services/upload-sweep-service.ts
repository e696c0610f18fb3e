/**
 * UploadSweepService handlers (internal token only): listing purgeable upload sessions for the sweep
 * and recording each one's expiry. The sweep acts for the cluster, so both calls see every tenant.
 * Translates transport to `UploadSessions` calls and nothing more.
 */
import type { ServiceImpl } from '@connectrpc/connect';
import type { UploadSweepService } from '../../gen/artifactstore/internal/v1/upload_sweep_service_pb.ts';
import { ALL_TENANTS } from '../registry/scope.ts';
import type { UploadSessions } from '../registry/upload-sessions.ts';
import { uploadSessionToProto } from './convert.ts';

/** Creates the UploadSweepService implementation. */
export function createUploadSweepService(deps: { readonly uploads: UploadSessions }): ServiceImpl<typeof UploadSweepService> {
  const { uploads } = deps;
  return {
    async listPurgeableUploads(req) {
      const page = await uploads.listPurgeableUploadSessions({ backendIds: req.backendIds }, { pageToken: req.pageToken, pageSize: req.pageSize });
      return { sessions: page.items.map(uploadSessionToProto), nextPageToken: page.nextPageToken };
    },

    async recordUploadExpired(req) {
      return { session: uploadSessionToProto(await uploads.closeUploadSession(ALL_TENANTS, req.uploadId, 'expired')) };
    },
  };
}
