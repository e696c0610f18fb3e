/**
 * How the CLI reaches the service: the control-plane URL, the bearer token, and typed
 * RegistryService and RetentionService clients over Connect (HTTP/1.1, binary protobuf).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Code, ConnectError, createClient, type CallOptions, type Client, type Interceptor } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { RegistryService } from '../../gen/artifactstore/v1/registry_service_pb.ts';
import { RetentionService } from '../../gen/artifactstore/v1/retention_service_pb.ts';
import { dataDirFromEnv } from '../../control-plane/config/data-dir.ts';

/** Default control-plane URL (the embedded `npm start`). */
export const DEFAULT_URL = 'http://127.0.0.1:8000';

/** Call options of an RPC that `signal` (Ctrl-C: `cli/interrupt.ts`) aborts, when there is one. */
export function abortable(signal: AbortSignal | undefined): CallOptions {
  return signal === undefined ? {} : { signal };
}

/** A configured connection. */
export interface Connection {
  /** Control-plane base URL, without a trailing slash. */
  readonly url: string;
  /** Bearer token, if any. */
  readonly token: string | undefined;
  /** Typed registry client. */
  readonly registry: Client<typeof RegistryService>;
  /** Typed retention client. */
  readonly retention: Client<typeof RetentionService>;
  /** Headers for plain HTTP calls (Authorization). */
  authHeaders(): Record<string, string>;
}

/** Where the connection settings come from. */
export interface ConnectionSettings {
  readonly url?: string | undefined;
  readonly token?: string | undefined;
  readonly env: NodeJS.ProcessEnv;
}

function isLocalDefault(url: string): boolean {
  try {
    const u = new URL(url);
    return (u.hostname === '127.0.0.1' || u.hostname === 'localhost' || u.hostname === '[::1]') && u.protocol === 'http:';
  } catch {
    return false;
  }
}

/**
 * Resolves URL and token: `--url` / ARTIFACTSTORE_URL (default http://127.0.0.1:8000); `--token` /
 * ARTIFACTSTORE_TOKEN; for a local URL with no token, the `<data dir>/dev-token` the control plane
 * wrote on first start.
 */
export async function openConnection(settings: ConnectionSettings): Promise<Connection> {
  const url = (settings.url ?? settings.env['ARTIFACTSTORE_URL'] ?? DEFAULT_URL).replace(/\/+$/, '');
  try {
    new URL(url);
  } catch {
    throw new Error(`not a URL: ${JSON.stringify(url)} (from --url or ARTIFACTSTORE_URL)`);
  }
  let token = settings.token ?? settings.env['ARTIFACTSTORE_TOKEN'];
  if ((token === undefined || token === '') && isLocalDefault(url)) {
    token = await readFile(join(dataDirFromEnv(settings.env), 'dev-token'), 'utf8').then(
      (t) => t.trim(),
      () => undefined,
    );
  }
  const bearer = token === undefined || token === '' ? undefined : token;
  const auth: Interceptor = (next) => (req) => {
    if (bearer !== undefined) req.header.set('Authorization', `Bearer ${bearer}`);
    return next(req);
  };
  const transport = createConnectTransport({ baseUrl: url, httpVersion: '1.1', useBinaryFormat: true, interceptors: [explainFailures(url), auth] });
  return {
    url,
    token: bearer,
    registry: createClient(RegistryService, transport),
    retention: createClient(RetentionService, transport),
    authHeaders: () => (bearer === undefined ? {} : { Authorization: `Bearer ${bearer}` }),
  };
}

/**
 * Says what a failure to reach the control plane means: a server that answers 404 without a Connect
 * error is not a control plane (typically a data plane's URL given to --url), and a refused connection
 * names the URL tried. Other errors pass unchanged.
 */
function explainFailures(url: string): Interceptor {
  return (next) => async (req) => {
    try {
      return await next(req);
    } catch (error) {
      if (!(error instanceof ConnectError)) throw error;
      if (error.code === Code.Unimplemented && error.rawMessage === 'HTTP 404') {
        throw new ConnectError(
          `${url} does not serve ${req.service.typeName} (HTTP 404): --url and ARTIFACTSTORE_URL take the control plane's URL (port 8000 by default), not a data plane's`,
          Code.Unimplemented,
          undefined,
          undefined,
          error,
        );
      }
      if (error.code === Code.Unavailable && /ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ETIMEDOUT/.test(error.rawMessage)) {
        throw new ConnectError(`cannot reach the control plane at ${url} (${error.rawMessage}); is it running? (--url, ARTIFACTSTORE_URL)`, Code.Unavailable, undefined, undefined, error);
      }
      throw error;
    }
  };
}
