/**
 * `grpc.health.v1.Health` for either process (anonymous, like `GET /healthz`): SERVING while the
 * server's own check passes (control plane: the database answers; data plane: the storage backend is
 * usable). Service names the server does not serve are NOT_FOUND, as the gRPC health protocol asks.
 * Transport-neutral: it only needs a `ConnectRouter`, so Connect, gRPC and gRPC-Web clients all reach it.
 */
import { Code, ConnectError, type ConnectRouter } from '@connectrpc/connect';
import { create, type DescMethod, type DescMethodServerStreaming, type DescMethodUnary, type Message } from '@bufbuild/protobuf';
import { HealthCheckResponseSchema, HealthService } from './grpc-descriptors.ts';

/** HealthCheckResponse.ServingStatus values. */
const SERVING = 1;
const NOT_SERVING = 2;

/** What the health service asks of the server. */
export interface HealthDeps {
  /** Fully-qualified names of the services served (an empty name means the whole server). */
  readonly services: readonly string[];
  /**
   * True when the server can do its work (control plane: database reachable; data plane: backend
   * usable). Problems are reported as false, not thrown; `signal` aborts when the caller goes away.
   */
  readonly isHealthy: (signal: AbortSignal) => Promise<boolean>;
  /** Aborts when the server shuts down (ends Watch streams). */
  readonly shutdown: AbortSignal;
}

// The descriptors are built at run time (grpc-descriptors.ts), so messages are handled through their
// generic shape; these are the two fields read and written.
type CheckRequest = Message & { service?: string };

function unary(m: DescMethod | undefined): DescMethodUnary {
  if (m?.methodKind !== 'unary') throw new Error('health descriptor mismatch');
  return m as DescMethodUnary; // DescMethod is not a discriminated union; the kind was checked above.
}

function serverStreaming(m: DescMethod | undefined): DescMethodServerStreaming {
  if (m?.methodKind !== 'server_streaming') throw new Error('health descriptor mismatch');
  return m as DescMethodServerStreaming; // DescMethod is not a discriminated union; the kind was checked above.
}

/** Registers Health on `router` (at most once per router). */
export function registerHealthService(router: ConnectRouter, deps: HealthDeps): void {
  async function status(service: string | undefined, signal: AbortSignal): Promise<Message> {
    if (service !== undefined && service !== '' && !deps.services.includes(service)) throw new ConnectError(`unknown service ${service}`, Code.NotFound);
    return create(HealthCheckResponseSchema, { status: (await deps.isHealthy(signal)) ? SERVING : NOT_SERVING });
  }
  const check = unary(HealthService.methods[0]);
  const watch = serverStreaming(HealthService.methods[1]);
  router.rpc<DescMethodUnary>(check, (req, ctx) => status((req as CheckRequest).service, ctx.signal));
  router.rpc<DescMethodServerStreaming>(watch, async function* (req, ctx) {
    yield await status((req as CheckRequest).service, ctx.signal);
    // Status changes are not tracked; the stream stays open until the client or the server ends it.
    const signal = AbortSignal.any([ctx.signal, deps.shutdown]);
    await new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
  });
}
