/**
 * How the data plane reaches the control plane's internal services: a Connect transport that presents
 * the cluster's internal token on every call, and the typed `ControlService` client over it
 * (`createClient(ControlService, transport)`). Requests about a client's data carry that client's own
 * token in `client_token`; the callers fill it in.
 */
import { Code, ConnectError, type Client, type Interceptor, type Transport } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import type { ControlService } from '../../gen/artifactstore/internal/v1/control_service_pb.ts';

/** The slice of ControlService a data plane calls (all of it), typed by the generated descriptor. */
export type ControlClient = Client<typeof ControlService>;

/** Options of {@link createControlTransport}. */
export interface ControlClientOptions {
  /** Base URL of the control plane, e.g. `http://127.0.0.1:8000`. */
  readonly baseUrl: string;
  /** The internal token (sent as `Authorization: Bearer …`). */
  readonly internalToken: string;
  /** Per-call timeout in milliseconds (default 30 000); a call's own signal can end it sooner. */
  readonly timeoutMs?: number;
  /** This data plane's id once registered (sent in {@link DATA_PLANE_ID_HEADER}); undefined before. */
  readonly dataPlaneId?: () => string | undefined;
}

/**
 * Header naming the calling data plane, so the control plane knows which backend it writes to and
 * whether it is alive (the internal protos have no field for it). Same name as the control plane's.
 */
export const DATA_PLANE_ID_HEADER = 'artifactstore-data-plane-id';

/**
 * Calls that change nothing, retried once when the request may never have reached the control plane
 * (a keep-alive socket the control plane closed when it restarted answers the next request with a
 * reset). Calls that record something are never retried: a duplicate could be applied twice.
 */
const RETRIED_METHODS = new Set(['AuthorizeWrite', 'ResolveRead', 'GetUploadSession', 'Heartbeat', 'ListPurgeableUploads']);

const retryStale: Interceptor = (next) => async (req) => {
  try {
    return await next(req);
  } catch (error) {
    const stale = error instanceof ConnectError && !error.isWireError && (error.code === Code.Aborted || error.code === Code.Unavailable);
    if (!stale || !RETRIED_METHODS.has(req.method.name) || req.signal.aborted) throw error;
    return next(req);
  }
};

/**
 * The transport of every internal service a data plane calls (ControlService, and UploadSweepService for
 * the upload sweep): the internal token, the data-plane id header, the timeout and the retry rule. No
 * connection is made until the first call.
 */
export function createControlTransport(options: ControlClientOptions): Transport {
  const auth: Interceptor = (next) => (req) => {
    req.header.set('Authorization', `Bearer ${options.internalToken}`);
    const id = options.dataPlaneId?.();
    if (id !== undefined) req.header.set(DATA_PLANE_ID_HEADER, id);
    return next(req);
  };
  // Connect over HTTP/1.1 with keep-alive and binary protobuf: unary calls only, and it needs no
  // session management when the control plane restarts.
  return createConnectTransport({
    baseUrl: options.baseUrl,
    httpVersion: '1.1',
    useBinaryFormat: true,
    interceptors: [retryStale, auth],
    defaultTimeoutMs: options.timeoutMs ?? 30_000,
  });
}
