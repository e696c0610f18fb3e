/**
 * The data-plane process as a library: one TCP port serving `artifactstore.v1.DataPlaneService`,
 * grpc.health.v1 and server reflection over Connect, gRPC and gRPC-Web, and the plain HTTP byte routes
 * (as the Connect adapter's fallback), on HTTP/1.1 and h2c (`core/net/h2c-listener.ts`). Registers with
 * the control plane before it reports itself started, then heartbeats, and sweeps abandoned upload
 * sessions periodically (`files/upload-sweep.ts`). Holds no state of its own: everything durable is in
 * the control plane or on the storage backend.
 */
import type { Http2ServerResponse } from 'node:http2';
import { createDataPlaneMetrics, type DataPlaneMetrics } from '../http/metrics.ts';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import { createClient, type ConnectRouter } from '@connectrpc/connect';
import { createHashPool, type HashPool } from '../../core/identity/hash-pool.ts';
import { listenHttp1AndH2c, type DualProtocolHandler, type DualProtocolServer } from '../../core/net/h2c-listener.ts';
import { HealthService } from '../../core/rpc/grpc-descriptors.ts';
import { registerHealthService } from '../../core/rpc/health-service.ts';
import { registerReflectionService } from '../../core/rpc/reflection-service.ts';
import { DataPlaneService } from '../../gen/artifactstore/v1/data_plane_service_pb.ts';
import { ControlService } from '../../gen/artifactstore/internal/v1/control_service_pb.ts';
import { createControlTransport } from '../control/control-client.ts';
import { startRegistration, type Registration } from '../control/registration.ts';
import type { DataPlaneDeps } from '../files/data-plane-deps.ts';
import { startUploadSweeper, type UploadSweeper } from '../files/upload-sweep.ts';
import { createDataPlaneService } from '../grpc/data-plane-service.ts';
import { capCallTimeouts } from '../../core/rpc/call-timeouts.ts';
import { serveWriteFile, takesFastPath } from '../grpc/write-file-fast-path.ts';
import { createByteRouter } from '../http/byte-router.ts';
import type { HttpResponse } from '../http/http-io.ts';
import { isBytePath } from '../http/route-match.ts';
import type { StorageBackend } from '../storage/backend.ts';
import { createShutdownController } from '../../core/net/shutdown-controller.ts';

/** How to run a data plane. */
export interface DataPlaneOptions {
  /** Interface to listen on, e.g. `127.0.0.1`. */
  readonly host: string;
  /** TCP port; 0 picks an ephemeral one (read it back from `url`). */
  readonly port: number;
  /** URL clients reach this data plane at (default `http://host:port` with the bound port). */
  readonly advertiseUrl?: string;
  /** Base URL of the control plane. */
  readonly controlPlaneUrl: string;
  /** The cluster's internal token, presented to ControlService. */
  readonly internalToken: string;
  /** Where new bytes are stored unless routed elsewhere; the data plane never closes it. */
  readonly backend: StorageBackend;
  /** Every backend this data plane serves (default: just `backend`); the control plane routes among them. */
  readonly backends?: readonly StorageBackend[];
  /** Hash workers; default a pool of its own, closed with the data plane. */
  readonly hashPool?: HashPool;
  /** Largest file accepted, in bytes (default 64 GiB). */
  readonly maxUploadBytes?: number;
  /** Where log lines go (default: nowhere). */
  readonly log?: (line: string) => void;
  /** Milliseconds between upload sweeps (default {@link DEFAULT_UPLOAD_SWEEP_INTERVAL_MS}); 0 turns them off. */
  readonly uploadSweepIntervalMs?: number;
  /** Its metrics (default: its own); given when the backends report into them too (`runDataPlaneFromEnv`). */
  readonly metrics?: DataPlaneMetrics;
}

/** A started data plane. */
export interface RunningDataPlane {
  /** `http://host:port` (with the real port when 0 was asked). */
  readonly url: string;
  /** The id the control plane gave this data plane. */
  readonly dataPlaneId: string;
  /**
   * Stops heartbeating, sweeping and listening, finishes in-flight requests (5 s grace) and the work the
   * backends go on with after answering (`settle`); safe to call twice.
   */
  close(): Promise<void>;
}

/** Default time between upload sweeps: 10 minutes. */
export const DEFAULT_UPLOAD_SWEEP_INTERVAL_MS = 600_000;

/** Default upload limit: 64 GiB. */
export const DEFAULT_MAX_UPLOAD_BYTES = 64 * 1024 ** 3;

// One gRPC/Connect message: data chunks of a few MiB at most; grpc-js clients send ≤ 4 MiB by default.
const READ_MAX_BYTES = 16 * 1024 * 1024;

/** Starts a data plane; resolves once it listens and is registered with the control plane. */
export async function startDataPlane(options: DataPlaneOptions): Promise<RunningDataPlane> {
  const log = options.log ?? (() => undefined);
  const hashPool = options.hashPool ?? createHashPool();
  const ownPool = options.hashPool === undefined ? hashPool : undefined;
  let dataPlaneId: string | undefined;
  const controlTransport = createControlTransport({ baseUrl: options.controlPlaneUrl.replace(/\/+$/, ''), internalToken: options.internalToken, dataPlaneId: () => dataPlaneId });
  const control = createClient(ControlService, controlTransport);
  const shutdown = createShutdownController();
  const backends = new Map([options.backend, ...(options.backends ?? [])].map((backend) => [backend.id, backend]));
  const deps: DataPlaneDeps = { control, backend: options.backend, backends, hashPool, maxUploadBytes: options.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES, log };

  // The advertised URL needs the bound port, and the byte routes need the URL: bind first, route late.
  let baseUrl = options.advertiseUrl?.replace(/\/+$/, '') ?? '';
  const metrics = options.metrics ?? createDataPlaneMetrics();
  const byteRouter = createByteRouter(deps, { get baseUrl() { return baseUrl; }, metrics });
  const rpc = connectNodeAdapter({
    routes: (router: ConnectRouter) => {
      router.service(DataPlaneService, createDataPlaneService(deps));
      // Healthy while the backend is usable, the same check as `GET /healthz`. Anonymous: the data
      // plane has no auth interceptor, every byte call is authorized by the control plane.
      registerHealthService(router, {
        services: [DataPlaneService.typeName],
        isHealthy: async (signal) => (await Promise.all([...backends.values()].map((backend) => backend.health({ signal })))).every((health) => health.ok),
        shutdown: shutdown.signal,
      });
      registerReflectionService(router, [DataPlaneService, HealthService]);
    },
    // connect-node widens the response's `write` callback type; the objects are node's own.
    fallback: (req, res) => byteRouter(req, res as HttpResponse),
    readMaxBytes: READ_MAX_BYTES,
    shutdownSignal: shutdown.signal,
  });
  // gRPC WriteFile calls with the binary codec and no compression take the fast path (ADR 0019); every
  // other request goes to connect-node.
  const fastPath = { readMaxBytes: READ_MAX_BYTES, shutdownSignal: shutdown.signal };
  const handler: DualProtocolHandler = (req, res) => {
    capCallTimeouts(req.headers);
    if (takesFastPath(req)) serveWriteFile(deps, req, res as Http2ServerResponse, fastPath);
    else (rpc as DualProtocolHandler)(req, res);
  };
  const checkContinue: DualProtocolHandler = (req, res) => {
    // Byte routes authorize first and send 100 Continue themselves; RPCs get it at once.
    if (!isBytePath(req.url ?? '')) res.writeContinue();
    handler(req, res);
  };

  let server: DualProtocolServer | undefined;
  let registration: Registration | undefined;
  let sweeper: UploadSweeper | undefined;
  try {
    server = await listenHttp1AndH2c({ host: options.host, port: options.port, handler, checkContinue });
    const url = `http://${options.host.includes(':') ? `[${options.host}]` : options.host}:${server.port}`;
    if (baseUrl === '') baseUrl = url;
    registration = await startRegistration({ control, advertiseUrl: baseUrl, backendId: options.backend.id, log });
    dataPlaneId = registration.dataPlaneId;
    const sweepIntervalMs = options.uploadSweepIntervalMs ?? DEFAULT_UPLOAD_SWEEP_INTERVAL_MS;
    if (sweepIntervalMs > 0) sweeper = startUploadSweeper({ backends, transport: controlTransport, intervalMs: sweepIntervalMs, log });
    log(`data plane ${registration.dataPlaneId} listening on ${url} (backends ${[...backends.keys()].join(', ')}; default ${options.backend.id}; control plane ${options.controlPlaneUrl})`);
    const started = { server, registration, sweeper };
    let closing: Promise<void> | undefined;
    return {
      url,
      dataPlaneId: registration.dataPlaneId,
      close: () =>
        (closing ??= (async () => {
          // First out of the control plane's table, so no new work is sent here while in-flight work finishes.
          await started.registration.stop();
          shutdown.abort();
          await started.sweeper?.stop();
          await started.server.close();
          await Promise.all([...backends.values()].map((backend) => backend.settle()));
          await ownPool?.close();
        })()),
    };
  } catch (error) {
    await registration?.stop();
    shutdown.abort();
    await sweeper?.stop();
    await server?.close(0);
    await ownPool?.close();
    throw error;
  }
}
