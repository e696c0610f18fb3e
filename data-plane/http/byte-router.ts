/**
 * The plain-HTTP side of a data plane: dispatches the byte routes (see `file-routes.ts` and
 * `upload-routes.ts`) and answers every failure as a problem document. Mounted as the `fallback` of the
 * Connect adapter, so RPC paths never reach it.
 */
import { DataPlaneError } from '../errors/data-plane-error.ts';
import type { Caller, DataPlaneDeps } from '../files/data-plane-deps.ts';
import { getArchive } from './archive-route.ts';
import { postBatch } from './batch-route.ts';
import { getFile, putFile } from './file-routes.ts';
import { bearerToken } from './headers.ts';
import { clientGoneSignal, respond, respondJson, type HttpRequest, type HttpResponse } from './http-io.ts';
import type { DataPlaneMetrics } from './metrics.ts';
import type { StorageBackend } from '../storage/backend.ts';
import { sendProblem } from './problem.ts';
import { booleanParam, matchByteRoute, ROUTE_METHODS, type ByteRoute } from './route-match.ts';
import { completeUpload, deleteUpload, headUpload, patchUpload, postUpload } from './upload-routes.ts';

/** Options of {@link createByteRouter}. */
export interface ByteRouterOptions {
  /** Base URL written into upload-session URLs. */
  readonly baseUrl: string;
  /** Request metrics, served at `GET /metrics`; absent: no such route. */
  readonly metrics?: DataPlaneMetrics;
}

/** A request handler for both protocol versions. */
export type ByteRouter = (req: HttpRequest, res: HttpResponse) => void;

/** Creates the handler. */
export function createByteRouter(deps: DataPlaneDeps, options: ByteRouterOptions): ByteRouter {
  return (req, res) => {
    const signal = clientGoneSignal(res);
    dispatch(deps, options, req, res, signal).catch((error: unknown) => sendProblem(req, res, error, deps.log));
  };
}

async function dispatch(deps: DataPlaneDeps, options: ByteRouterOptions, req: HttpRequest, res: HttpResponse, signal: AbortSignal): Promise<void> {
  const method = req.method ?? 'GET';
  const { route, query } = matchByteRoute(req.url ?? '/');
  if (route === undefined) throw new DataPlaneError('route-not-found', `no route for ${method} ${(req.url ?? '').split('?')[0]?.slice(0, 200) ?? ''}`);
  const allowed = ROUTE_METHODS[route.name];
  if (!allowed.includes(method)) throw new DataPlaneError('method-not-allowed', `${method} is not allowed here`, { facts: { allow: allowed } });
  if (route.name === 'metrics') {
    if (options.metrics === undefined) throw new DataPlaneError('route-not-found', 'metrics are not enabled');
    const { contentType, body } = await options.metrics.render();
    return respond(res, 200, { 'content-type': contentType, 'cache-control': 'no-store' }, body);
  }
  options.metrics?.observe(route.name, req, res);
  if (route.name === 'health') return health(deps, res, signal);
  const caller: Caller = { token: bearerToken(req) };
  return handle(deps, options, caller, route, method, query, req, res, signal);
}

async function handle(
  deps: DataPlaneDeps,
  options: ByteRouterOptions,
  caller: Caller,
  route: Exclude<ByteRoute, { name: 'health' | 'metrics' }>,
  method: string,
  query: URLSearchParams,
  req: HttpRequest,
  res: HttpResponse,
  signal: AbortSignal,
): Promise<void> {
  switch (route.name) {
    case 'package-file':
      if (method === 'PUT') return putFile(deps, caller, { packageId: route.packageId, relativePath: route.relativePath, replace: booleanParam(query, 'replace') }, req, res, signal);
      return getFile(deps, caller, { packageId: route.packageId, relativePath: route.relativePath }, req, res, signal);
    case 'package-files':
      return postBatch(deps, caller, { packageId: route.packageId, replace: booleanParam(query, 'replace') }, req, res, signal);
    case 'package-archive':
      return getArchive(deps, caller, route.packageId, req, res, signal);
    case 'file-download':
      return getFile(deps, caller, { fileId: route.fileId }, req, res, signal);
    case 'uploads':
      return postUpload(deps, caller, options.baseUrl, req, res, signal);
    case 'upload':
      if (method === 'PATCH') return patchUpload(deps, caller, route.uploadId, req, res, signal);
      if (method === 'HEAD') return headUpload(deps, caller, route.uploadId, res, signal);
      return deleteUpload(deps, caller, route.uploadId, res, signal);
    case 'upload-complete':
      return completeUpload(deps, caller, route.uploadId, res, signal);
  }
}

/**
 * `GET /healthz`: the default backend as `backend` (as before), and every configured backend under
 * `backends`. 503 when any of them is unhealthy: this data plane may be routed writes for each.
 */
async function health(deps: DataPlaneDeps, res: HttpResponse, signal: AbortSignal): Promise<void> {
  const all = new Map([[deps.backend.id, deps.backend], ...(deps.backends ?? new Map<string, StorageBackend>())]);
  const checked = await Promise.all([...all.values()].map(async (backend) => ({ id: backend.id, ...(await backend.health({ signal })) })));
  const report = checked.map((b) => ({ id: b.id, ok: b.ok, detail: b.detail }));
  const ok = report.every((b) => b.ok);
  const primary = report.find((b) => b.id === deps.backend.id);
  respondJson(res, ok ? 200 : 503, { status: ok ? 'ok' : 'unhealthy', backend: primary, backends: report });
}
