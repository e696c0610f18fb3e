/**
 * The plain HTTP routes of the control plane, served on the RPC port through the Connect adapter's
 * `fallback`:
 *
 *   GET|HEAD /healthz                              JSON: database ok, live data planes, failed storage
 *   GET /metrics                                   Prometheus text format (metrics.ts)
 *                                                  locations (anonymous; "degraded" while any copy failed)
 *   GET|HEAD /packages/{id}/manifest               canonical CBOR manifest (read access)
 *   GET|HEAD /packages/{id}/manifest.json          its RFC 8785 JSON projection (read access)
 *   byte routes (uploads, downloads)               307 to a live data plane, same path and query
 *
 * The control plane never touches file bytes: it only redirects, and the data plane authenticates
 * the request it receives. Errors are RFC 7807 problem documents with a stable `code`.
 */
import { ifNoneMatchMatches } from '../../core/net/if-none-match.ts';
import type { Authenticator } from '../auth/authenticator.ts';
import type { DataPlaneTable } from '../data-planes/data-plane-table.ts';
import type { Registry } from '../registry/registry.ts';
import { RegistryError } from '../registry/registry-error.ts';
import { ServiceError, type ErrorLog } from '../services/errors.ts';
import { renderManifest } from '../services/manifest-format.ts';
import { send, sendError, sendJson, type HttpRequest, type HttpResponse } from './problem.ts';

/** What the routes need. */
export type { FailedLocations } from '../registry/storage-locations.ts';
import type { FailedLocations } from '../registry/storage-locations.ts';

/** What the routes need. */
export interface HttpRoutesDeps {
  readonly registry: Registry;
  readonly auth: Authenticator;
  readonly dataPlanes: DataPlaneTable;
  /** True when the database answers. */
  readonly databaseOk: () => Promise<boolean>;
  readonly log: ErrorLog;
  /** Copies whose last verification failed (`storage verify`); absent: not reported. */
  readonly failedLocations?: () => Promise<FailedLocations>;
  /** Prometheus text exposition for `GET /metrics`; absent: no such route. */
  readonly metrics?: () => Promise<{ contentType: string; body: string }>;
}

/** A byte route: path pattern and the methods the data plane serves on it. */
const BYTE_ROUTES: readonly { readonly pattern: RegExp; readonly methods: readonly string[] }[] = [
  { pattern: /^\/packages\/[^/]+\/files\/.+$/, methods: ['PUT', 'GET', 'HEAD'] },
  { pattern: /^\/packages\/[^/]+\/files$/, methods: ['POST'] },
  { pattern: /^\/packages\/[^/]+\/archive$/, methods: ['GET', 'POST'] },
  { pattern: /^\/uploads\/?$/, methods: ['POST'] },
  { pattern: /^\/uploads\/[^/]+\/?$/, methods: ['PATCH', 'HEAD', 'DELETE'] },
  { pattern: /^\/uploads\/[^/]+\/complete$/, methods: ['POST'] },
  { pattern: /^\/files\/[^/]+\/download$/, methods: ['GET', 'HEAD'] },
];

const MANIFEST = /^\/packages\/([^/]+)\/(manifest|manifest\.json)$/;

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch (err) {
    throw new RegistryError('invalid-argument', 'malformed percent-encoding in the path', { cause: err });
  }
}

/** True when `path` is one of the byte routes the control plane redirects. */
export function isByteRoute(path: string): boolean {
  return BYTE_ROUTES.some((r) => r.pattern.test(path));
}

function methodNotAllowed(res: HttpResponse, allow: readonly string[], path: string): void {
  send(res, 405, { allow: allow.join(', '), 'content-type': 'application/problem+json' }, `${JSON.stringify({ type: 'https://artifact-store.invalid/problems/method-not-allowed', title: 'Method not allowed', status: 405, code: 'method-not-allowed', detail: `use ${allow.join(', ')}`, instance: path })}\n`);
}

/** Creates the fallback handler. */
export function createHttpRoutes(deps: HttpRoutesDeps): (req: HttpRequest, res: HttpResponse) => void {
  const { registry, auth, dataPlanes, log } = deps;

  async function manifest(req: HttpRequest, res: HttpResponse, packageId: string, json: boolean): Promise<void> {
    const caller = auth.authorize(auth.identify(req.headers.authorization), 'read');
    const rendered = renderManifest(await registry.getManifestBytes(caller.scope, decodeSegment(packageId)), json ? 'json' : 'cbor');
    const etag = `"${rendered.digest}"`;
    const headers = { 'content-type': rendered.contentType, etag, 'artifactstore-manifest-digest': rendered.digest, 'cache-control': 'private, max-age=31536000, immutable' };
    if (ifNoneMatchMatches(req.headers['if-none-match'], etag)) return send(res, 304, headers);
    if (req.method === 'HEAD') {
      res.writeHead(200, { ...headers, 'content-length': String(rendered.bytes.byteLength) });
      res.end();
      return;
    }
    send(res, 200, headers, rendered.bytes);
  }

  function isAdmin(req: HttpRequest): boolean {
    try {
      const principal = auth.identify(req.headers.authorization);
      return principal.kind === 'client' && principal.identity.admin;
    } catch {
      return false;
    }
  }

  async function healthz(req: HttpRequest, res: HttpResponse): Promise<void> {
    const ok = await deps.databaseOk();
    const planes = dataPlanes.live().map((p) => ({ id: p.id, url: p.url, backend_id: p.backendId }));
    // A failed copy is data at risk, not an outage: still 200, but "degraded" and named.
    const failed = ok ? await deps.failedLocations?.() : undefined;
    // Anonymous callers get the count only: content addresses are tenants' data. An admin token adds
    // the failed locations themselves (up to 20); a bad token is not an error here, health stays open.
    const sample = failed !== undefined && isAdmin(req) ? { failed: failed.sample.map((l) => ({ content_address: l.contentAddress, backend_id: l.backendId, storage_key: l.storageKey })) } : {};
    const storage = failed === undefined ? {} : { storage: { failed_locations: failed.count, ...sample } };
    // Degraded, not down (still 200: the control plane itself works, and restarting it would not help):
    // bytes cannot move without a live data plane, and a failed copy is data at risk.
    const problems = [
      ...(planes.length === 0 ? ['no data plane is live: uploads and downloads cannot work'] : []),
      ...((failed?.count ?? 0) > 0 ? [`${failed?.count} stored copies failed verification`] : []),
    ];
    const status = !ok ? 'unavailable' : problems.length > 0 ? 'degraded' : 'ok';
    sendJson(res, ok ? 200 : 503, { status, database: { ok }, data_planes: planes, ...storage, ...(problems.length > 0 ? { problems } : {}) }, req.method);
  }

  function redirect(req: HttpRequest, res: HttpResponse): void {
    const plane = dataPlanes.pick();
    if (plane === undefined) throw new ServiceError('unavailable', 'no data plane is live; try again shortly');
    const hasBody = req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0' ? true : req.headers['transfer-encoding'] !== undefined;
    // Do not read an upload body we are not going to use: close the HTTP/1.1 connection instead.
    const close: Record<string, string> = hasBody && req.httpVersionMajor === 1 ? { connection: 'close' } : {};
    send(res, 307, { location: `${plane.url}${req.url ?? '/'}`, 'cache-control': 'no-store', ...close });
  }

  async function route(req: HttpRequest, res: HttpResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://control-plane.invalid');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    if (path === '/healthz') return method === 'GET' || method === 'HEAD' ? healthz(req, res) : methodNotAllowed(res, ['GET', 'HEAD'], path);
    const metrics = deps.metrics;
    if (path === '/metrics' && metrics !== undefined) {
      if (method !== 'GET') return methodNotAllowed(res, ['GET'], path);
      const { contentType, body } = await metrics();
      return send(res, 200, { 'content-type': contentType, 'cache-control': 'no-store' }, body);
    }
    const m = MANIFEST.exec(path);
    if (m !== null) return method === 'GET' || method === 'HEAD' ? manifest(req, res, m[1]!, m[2] === 'manifest.json') : methodNotAllowed(res, ['GET', 'HEAD'], path);
    const byte = BYTE_ROUTES.find((r) => r.pattern.test(path));
    if (byte !== undefined) return byte.methods.includes(method) ? redirect(req, res) : methodNotAllowed(res, byte.methods, path);
    send(res, 404, { 'content-type': 'application/problem+json' }, `${JSON.stringify({ type: 'https://artifact-store.invalid/problems/not-found', title: 'Not found', status: 404, code: 'not-found', detail: `no route for ${method} ${path}`, instance: path })}\n`);
  }

  return (req, res) => {
    route(req, res).catch((err: unknown) => sendError(res, err, log, req.url));
  };
}
