/**
 * The one Connect interceptor that authenticates and authorizes every RPC. Each method's required
 * access comes from a table typed over the generated service descriptors, so a new RPC does not
 * compile until it has a rule; a service missing from the table is refused. Handlers read the
 * authorized caller with `callerOf(context)`.
 */
import { createContextKey, type ContextValues, type Interceptor } from '@connectrpc/connect';
import type { GenService, GenServiceMethods } from '@bufbuild/protobuf/codegenv2';
import { HealthService, ServerReflectionService } from '../../core/rpc/grpc-descriptors.ts';
import { ControlService } from '../../gen/artifactstore/internal/v1/control_service_pb.ts';
import { StorageService } from '../../gen/artifactstore/internal/v1/storage_service_pb.ts';
import { UploadSweepService } from '../../gen/artifactstore/internal/v1/upload_sweep_service_pb.ts';
import { RegistryService } from '../../gen/artifactstore/v1/registry_service_pb.ts';
import { RetentionService } from '../../gen/artifactstore/v1/retention_service_pb.ts';
import { AuthError } from './auth-error.ts';
import type { Access, Authenticator, Caller } from './authenticator.ts';

/** The local (camelCase) method names of a generated service: a table keyed by them must list every RPC. */
type MethodNames<S> = S extends GenService<infer M extends GenServiceMethods> ? keyof M & string : never;

/** Access per RegistryService method. */
const registryAccess: Record<MethodNames<typeof RegistryService>, Access> = {
  createPackage: 'write',
  finalizePackage: 'write',
  getPackage: 'read',
  listPackages: 'read',
  getManifest: 'read',
  listFiles: 'read',
  getFile: 'read',
  listEvents: 'read',
  watchEvents: 'read',
};

/** Access per RetentionService method: changes are writes in the caller's scope, the sweep is admin-only. */
const retentionAccess: Record<MethodNames<typeof RetentionService>, Access> = {
  extendRetention: 'write',
  applyHold: 'write',
  releaseHold: 'write',
  getRetention: 'read',
  getRetentionHistory: 'read',
  sweepRetention: 'admin',
};

/** StorageService is for the verifier, which runs in the data-plane role with the internal token. */
const storageAccess: Record<MethodNames<typeof StorageService>, Access> = {
  listStorageLocations: 'internal',
  recordLocationCheck: 'internal',
};

/** UploadSweepService is for the upload sweep, which runs in the data-plane role with the internal token. */
const uploadSweepAccess: Record<MethodNames<typeof UploadSweepService>, Access> = {
  listPurgeableUploads: 'internal',
  recordUploadExpired: 'internal',
};

/** ControlService is data planes only; the client's own token travels in `client_token`. */
const controlAccess: Record<MethodNames<typeof ControlService>, Access> = {
  registerDataPlane: 'internal',
  heartbeat: 'internal',
  deregisterDataPlane: 'internal',
  authorizeWrite: 'internal',
  recordFile: 'internal',
  recordFiles: 'internal',
  resolveRead: 'internal',
  resolvePackageReads: 'internal',
  createUploadSession: 'internal',
  getUploadSession: 'internal',
  beginUploadCompletion: 'internal',
  abandonUploadCompletion: 'internal',
  closeUploadSession: 'internal',
};

const serviceAccess = new Map<string, (methodLocalName: string) => Access | undefined>([
  [RegistryService.typeName, (m) => (Object.hasOwn(registryAccess, m) ? registryAccess[m as MethodNames<typeof RegistryService>] : undefined)],
  [RetentionService.typeName, (m) => (Object.hasOwn(retentionAccess, m) ? retentionAccess[m as MethodNames<typeof RetentionService>] : undefined)],
  [ControlService.typeName, (m) => (Object.hasOwn(controlAccess, m) ? controlAccess[m as MethodNames<typeof ControlService>] : undefined)],
  [StorageService.typeName, (m) => (Object.hasOwn(storageAccess, m) ? storageAccess[m as MethodNames<typeof StorageService>] : undefined)],
  [UploadSweepService.typeName, (m) => (Object.hasOwn(uploadSweepAccess, m) ? uploadSweepAccess[m as MethodNames<typeof UploadSweepService>] : undefined)],
  [HealthService.typeName, () => 'public'],
  [ServerReflectionService.typeName, () => 'public'],
  ['grpc.reflection.v1alpha.ServerReflection', () => 'public'],
]);

/** The access an RPC needs, or undefined when it has no rule (refused). */
export function accessOf(serviceTypeName: string, methodLocalName: string): Access | undefined {
  return serviceAccess.get(serviceTypeName)?.(methodLocalName);
}

const callerKey = createContextKey<Caller | undefined>(undefined, { description: 'authorized caller' });

/** The caller the interceptor authorized for this call. */
export function callerOf(context: { readonly values: ContextValues }): Caller {
  const caller = context.values.get(callerKey);
  if (caller === undefined) throw new AuthError('permission-denied', 'call was not authorized');
  return caller;
}

/** Creates the interceptor. */
export function createAuthInterceptor(auth: Authenticator): Interceptor {
  return (next) => async (req) => {
    const access = accessOf(req.service.typeName, req.method.localName);
    if (access === undefined) throw new AuthError('permission-denied', `${req.service.typeName}/${req.method.name} is not served to callers`);
    const principal = access === 'public' ? ({ kind: 'anonymous' } as const) : auth.identify(req.header.get('authorization'));
    const caller = auth.authorize(principal, access);
    req.contextValues.set(callerKey, caller);
    return next(req);
  };
}
