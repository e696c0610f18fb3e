/**
 * ControlService handlers (internal; the auth interceptor admits only the internal token). Requests
 * about a client's data carry that client's token in `client_token`, authorized here through the
 * same authenticator as public calls. A data plane names itself with the
 * `artifactstore-data-plane-id` header (the proto's requests have no field for it).
 */
import type { HandlerContext, ServiceImpl } from '@connectrpc/connect';
import type { Authenticator } from '../auth/authenticator.ts';
import type { DataPlaneTable } from '../data-planes/data-plane-table.ts';
import type { BackendRouting } from '../registry/backend-routing.ts';
import type { Registry, ResolvedFile } from '../registry/registry.ts';
import { RegistryError } from '../registry/registry-error.ts';
import { checkLabel } from '../registry/validation.ts';
import type { ControlService } from '../../gen/artifactstore/internal/v1/control_service_pb.ts';
import { fileToProto, safeNumber, uploadSessionToProto } from './convert.ts';
import { ServiceError } from './errors.ts';

/** Header a data plane sends its id in. */
export const DATA_PLANE_ID_HEADER = 'artifactstore-data-plane-id';

/** What the handlers need. */
export interface ControlServiceDeps {
  readonly registry: Registry;
  readonly auth: Authenticator;
  readonly dataPlanes: DataPlaneTable;
  /** The operator's backend routing; absent: each file goes to the calling data plane's default backend. */
  readonly routing?: BackendRouting;
}

function checkAdvertiseUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch (err) {
    throw new RegistryError('invalid-argument', 'advertise_url must be an absolute http(s) URL', { cause: err });
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.search !== '' || url.hash !== '') throw new RegistryError('invalid-argument', 'advertise_url must be an http(s) URL without query or fragment');
  return url.toString().replace(/\/+$/, '');
}

function resolvedToProto(resolved: ResolvedFile) {
  return { file: fileToProto(resolved.file), locations: resolved.locations.map((l) => ({ backendId: l.backendId, storageKey: l.storageKey })) };
}

/** Creates the ControlService implementation. */
export function createControlService(deps: ControlServiceDeps): ServiceImpl<typeof ControlService> {
  const { registry, auth, dataPlanes } = deps;

  const writer = (token: string) => auth.authorize(auth.identifyClientToken(token), 'write');
  const reader = (token: string) => auth.authorize(auth.identifyClientToken(token), 'read');

  /** The calling data plane (by header) or, in a one-plane deployment without the header, the live one. */
  function callingPlane(ctx: HandlerContext) {
    const id = ctx.requestHeader.get(DATA_PLANE_ID_HEADER);
    const plane = id === null ? dataPlanes.live()[0] : dataPlanes.get(id);
    if (plane === undefined) throw new ServiceError('unavailable', id === null ? 'no data plane is registered' : `data plane ${id} is not registered or missed its heartbeats; register again`);
    return plane;
  }

  return {
    registerDataPlane(req) {
      const plane = dataPlanes.register({ url: checkAdvertiseUrl(req.advertiseUrl), backendId: checkLabel('backend_id', req.backendId), ...(req.dataPlaneId === '' ? {} : { id: checkLabel('data_plane_id', req.dataPlaneId) }) });
      return { dataPlaneId: plane.id, heartbeatIntervalMs: dataPlanes.heartbeatIntervalMs };
    },

    heartbeat(req) {
      return { known: dataPlanes.heartbeat(req.dataPlaneId) };
    },

    deregisterDataPlane(req) {
      return { known: dataPlanes.deregister(req.dataPlaneId) };
    },

    async authorizeWrite(req, ctx) {
      const caller = writer(req.clientToken);
      const plane = callingPlane(ctx);
      const relativePath = await registry.checkWrite(caller.scope, req.packageId, req.relativePath, req.replace);
      return { relativePath, backendId: (await deps.routing?.backendFor(caller.scope, req.packageId)) ?? plane.backendId };
    },

    async recordFile(req, ctx) {
      const caller = writer(req.clientToken);
      const digests = req.digests;
      if (digests === undefined) throw new RegistryError('invalid-argument', 'digests are required');
      const backendId = req.backendId === '' ? callingPlane(ctx).backendId : req.backendId;
      const file = await registry.addFile({
        tenant: caller.scope,
        packageId: req.packageId,
        relativePath: req.relativePath,
        size: safeNumber('digests.size', digests.size),
        mediaType: req.mediaType,
        blake3: digests.blake3,
        sha256: digests.sha256,
        backendId,
        storageKey: req.storageKey,
        replace: req.replace,
        ...(req.uploadId === '' ? {} : { upload: { uploadId: req.uploadId, completionId: req.uploadCompletionId } }),
      });
      return { file: fileToProto(file) };
    },

    async recordFiles(req, ctx) {
      const caller = writer(req.clientToken);
      const entries = req.entries.map((entry, index) => {
        const digests = entry.digests;
        if (digests === undefined) throw new RegistryError('invalid-argument', `entries[${index}]: digests are required`);
        return {
          relativePath: entry.relativePath,
          size: safeNumber(`entries[${index}].digests.size`, digests.size),
          mediaType: entry.mediaType,
          blake3: digests.blake3,
          sha256: digests.sha256,
          backendId: entry.backendId === '' ? callingPlane(ctx).backendId : entry.backendId,
          storageKey: entry.storageKey,
          replace: entry.replace,
        };
      });
      const files = await registry.addFiles(caller.scope, req.packageId, entries);
      return { files: files.map(fileToProto) };
    },

    async resolveRead(req) {
      const caller = reader(req.clientToken);
      if (req.fileId !== '' && (req.packageId !== '' || req.relativePath !== '')) throw new RegistryError('invalid-argument', 'give either file_id, or package_id and relative_path');
      const ref = req.fileId !== '' ? { fileId: req.fileId } : { packageId: req.packageId, relativePath: req.relativePath };
      const resolved = await registry.resolveFile(caller.scope, ref);
      return resolvedToProto(resolved);
    },

    async resolvePackageReads(req) {
      const caller = reader(req.clientToken);
      const page = await registry.resolvePackageFiles(caller.scope, req.packageId, { relativePaths: req.relativePaths, pageToken: req.pageToken, pageSize: req.pageSize });
      return { files: page.items.map(resolvedToProto), nextPageToken: page.nextPageToken };
    },

    async createUploadSession(req, ctx) {
      const caller = writer(req.clientToken);
      const plane = callingPlane(ctx);
      const session = await registry.createUploadSession({
        tenant: caller.scope,
        packageId: req.packageId,
        relativePath: req.relativePath,
        mediaType: req.mediaType,
        ...(req.expectedSize === undefined ? {} : { expectedSize: safeNumber('expected_size', req.expectedSize) }),
        expectedSha256: req.expectedSha256,
        expectedBlake3: req.expectedBlake3,
        replace: req.replace,
        backendId: (await deps.routing?.backendFor(caller.scope, req.packageId)) ?? plane.backendId,
        dataPlaneId: plane.id,
      });
      return { session: uploadSessionToProto(session) };
    },

    async getUploadSession(req) {
      return { session: uploadSessionToProto(await registry.getUploadSession(writer(req.clientToken).scope, req.uploadId)) };
    },

    async beginUploadCompletion(req) {
      const { session, completionId } = await registry.beginUploadCompletion(writer(req.clientToken).scope, req.uploadId);
      return { session: uploadSessionToProto(session), completionId };
    },

    async abandonUploadCompletion(req) {
      return { session: uploadSessionToProto(await registry.abandonUploadCompletion(writer(req.clientToken).scope, req.uploadId, req.completionId, req.reason)) };
    },

    async closeUploadSession(req) {
      if (req.status !== 'aborted' && req.status !== 'expired') throw new RegistryError('invalid-argument', 'status must be "aborted" or "expired" (a session is completed by RecordFile with its upload_id)');
      return { session: uploadSessionToProto(await registry.closeUploadSession(writer(req.clientToken).scope, req.uploadId, req.status)) };
    },
  };
}
