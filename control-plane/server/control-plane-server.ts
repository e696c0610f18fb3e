/**
 * The control-plane process as a library: one TCP port serving Connect, gRPC and gRPC-Web over
 * HTTP/1.1 and h2c (RegistryService, the internal ControlService, grpc.health.v1, server reflection),
 * plus the plain HTTP routes (manifests, /healthz, 307s to data planes). It owns the database and the
 * event log and never touches file bytes.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { sql } from 'kysely';
import type { ConnectRouter } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import { listenHttp1AndH2c, type DualProtocolHandler } from '../../core/net/h2c-listener.ts';
import { capCallTimeouts } from '../../core/rpc/call-timeouts.ts';
import { HealthService } from '../../core/rpc/grpc-descriptors.ts';
import { registerHealthService } from '../../core/rpc/health-service.ts';
import { registerReflectionService } from '../../core/rpc/reflection-service.ts';
import { createSystemClock, type Clock } from '../../core/time/clock.ts';
import { createAuthenticator } from '../auth/authenticator.ts';
import { createAuthInterceptor } from '../auth/auth-interceptor.ts';
import { loadOrCreateSecret } from '../auth/secret-file.ts';
import { createTokenStore, parseTokensEnv, readTokensFile, type TokenEntry } from '../auth/token-store.ts';
import { createDataPlaneTable } from '../data-planes/data-plane-table.ts';
import { openDatabase, type Database, type DatabaseConfig } from '../db/database.ts';
import { createEventFeed } from '../events/event-feed.ts';
import { createHttpRoutes } from '../http/http-routes.ts';
import { createControlPlaneMetrics } from '../http/metrics.ts';
import type { StoredEvent } from '../events/event-log.ts';
import { createRegistry } from '../registry/registry.ts';
import { createControlService } from '../services/control-service.ts';
import { createNulGuardInterceptor } from '../services/nul-guard.ts';
import { createErrorInterceptor } from '../services/errors.ts';
import { createRegistryService } from '../services/registry-service.ts';
import { createRetentionService } from '../services/retention-service.ts';
import { startRetentionSweeper } from '../retention/sweeper.ts';
import { DEFAULT_OPERATOR_CONFIG, type RetentionConfig } from '../config/operator-config.ts';
import { ControlService } from '../../gen/artifactstore/internal/v1/control_service_pb.ts';
import { StorageService } from '../../gen/artifactstore/internal/v1/storage_service_pb.ts';
import { UploadSweepService } from '../../gen/artifactstore/internal/v1/upload_sweep_service_pb.ts';
import type { StorageConfig } from '../../data-plane/storage/config/storage-config.ts';
import { createBackendRouting } from '../registry/backend-routing.ts';
import { createMutate } from '../registry/mutation.ts';
import { createStorageLocations } from '../registry/storage-locations.ts';
import { createStorageService } from '../services/storage-service.ts';
import { createUploadSweepService } from '../services/upload-sweep-service.ts';
import { RegistryService } from '../../gen/artifactstore/v1/registry_service_pb.ts';
import { RetentionService } from '../../gen/artifactstore/v1/retention_service_pb.ts';
import { createShutdownController } from '../../core/net/shutdown-controller.ts';

/** How to run a control plane. */
export interface ControlPlaneOptions {
  /** Interface to listen on, e.g. `127.0.0.1`. */
  readonly host: string;
  /** TCP port; 0 picks an ephemeral one (read it back from `url`). */
  readonly port: number;
  /** Directory for `dev-token` and `internal-token` (created if missing). */
  readonly dataDir: string;
  /** Where the registry database lives; or an already-open handle (the caller keeps ownership). */
  readonly database: DatabaseConfig | Database;
  /** JSON tokens file (`[{ token, tenant, name, admin? }]`). */
  readonly tokensFile?: string;
  /** Tokens as `tenant:name:token,...` (the value of ARTIFACTSTORE_TOKENS). */
  readonly tokensEnv?: string;
  /** Open reads (Get/List/Manifest/Events) to callers without a token. */
  readonly anonRead?: boolean;
  /** The data planes' shared token; default: `<dataDir>/internal-token`, generated on first start. */
  readonly internalToken?: string;
  /** Time source (data-plane liveness, event timestamps, ids); default the system clock. */
  readonly clock?: Clock;
  /** A data plane without a heartbeat for this long is dead (default 15 000 ms). */
  readonly dataPlaneTtlMs?: number;
  /** Fallback poll of the event log head for waiters, for writers in other processes (default 250 ms). */
  readonly eventPollMs?: number;
  /** Where log lines go (default: nowhere). */
  readonly log?: (line: string) => void;
  /** Class defaults and sweep interval (the operator config's `[retention]`); default: built-in. */
  readonly retention?: RetentionConfig;
  /** Backends and routing rules (the operator config's `[storage]`); absent: files go to each data plane's default backend. */
  readonly storage?: StorageConfig;
}

/** A started control plane. */
export interface RunningControlPlane {
  /** `http://host:port` (with the real port when 0 was asked). */
  readonly url: string;
  /** The token data planes must present to ControlService. */
  readonly internalToken: string;
  /**
   * The admin token of tenant `default` (`<dataDir>/dev-token`) when no tokens are configured:
   * generated on first start, read back on later ones. Undefined when tokens are configured.
   */
  readonly adminToken: string | undefined;
  /** Stops listening, ends open streams and long polls, closes the database if it opened it; safe to call twice. */
  close(): Promise<void>;
}

function isDatabase(d: DatabaseConfig | Database): d is Database {
  return 'db' in d;
}

async function loadTokens(options: ControlPlaneOptions, log: (line: string) => void): Promise<{ entries: TokenEntry[]; adminToken: string | undefined }> {
  const entries: TokenEntry[] = [];
  if (options.tokensFile !== undefined && options.tokensFile !== '') entries.push(...(await readTokensFile(options.tokensFile)));
  if (options.tokensEnv !== undefined && options.tokensEnv !== '') entries.push(...parseTokensEnv(options.tokensEnv));
  if (entries.length > 0) return { entries, adminToken: undefined };
  const path = join(options.dataDir, 'dev-token');
  const dev = await loadOrCreateSecret(path);
  if (dev.created) log(`no tokens configured: generated an admin token for tenant "default" in ${path}: ${dev.value}`);
  else log(`no tokens configured: using the admin token in ${path}`);
  return { entries: [{ token: dev.value, tenant: 'default', name: 'dev-token', admin: true }], adminToken: dev.value };
}

/** Starts a control plane; resolves once it accepts connections. */
export async function startControlPlane(options: ControlPlaneOptions): Promise<RunningControlPlane> {
  const log = options.log ?? (() => {});
  const clock = options.clock ?? createSystemClock();
  await mkdir(options.dataDir, { recursive: true });
  const { entries, adminToken } = await loadTokens(options, log);
  const internalToken = options.internalToken ?? (await loadOrCreateSecret(join(options.dataDir, 'internal-token'))).value;
  if (internalToken.length < 16) throw new Error('the internal token must be at least 16 characters');
  const auth = createAuthenticator({ tokens: createTokenStore(entries), internalToken, anonRead: options.anonRead === true });

  const ownsDatabase = !isDatabase(options.database);
  const database = isDatabase(options.database) ? options.database : await openDatabase(options.database);
  const shutdown = createShutdownController();
  try {
    const { db } = database;
    const feed = createEventFeed({ db, pollMs: options.eventPollMs ?? 250, log });
    const retention = options.retention ?? DEFAULT_OPERATOR_CONFIG.retention;
    // Its sources are read at scrape time, after everything below exists.
    const metrics = createControlPlaneMetrics({ db, liveDataPlanes: () => dataPlanes.live().length, failedLocations: () => storageLocations.failed() });
    const committed = (events: readonly StoredEvent[]): void => {
      feed.notify(events[events.length - 1]?.sequence ?? 0);
      metrics.countCommitted(events);
    };
    const registry = createRegistry({ db, clock, retentionPolicy: retention.classes, exclusiveMutations: database.dialect === 'pglite', onCommit: committed });
    const dataPlanes = createDataPlaneTable({ clock, ttlMs: options.dataPlaneTtlMs ?? 15_000 });
    const storageLocations = createStorageLocations({ db, mutate: createMutate(db, clock, { exclusive: database.dialect === 'pglite', onCommit: committed }) });
    const routing = options.storage === undefined ? undefined : createBackendRouting(options.storage, registry);
    const databaseOk = async (): Promise<boolean> => {
      try {
        await sql`SELECT 1`.execute(db);
        return true;
      } catch (err) {
        log(`health: database check failed: ${String(err)}`);
        return false;
      }
    };

    const routes = (router: ConnectRouter): void => {
      router.service(RegistryService, createRegistryService({ registry, feed, shutdown: shutdown.signal }));
      router.service(ControlService, createControlService({ registry, auth, dataPlanes, ...(routing === undefined ? {} : { routing }) }));
      router.service(StorageService, createStorageService({ locations: storageLocations }));
      router.service(UploadSweepService, createUploadSweepService({ uploads: registry }));
      router.service(RetentionService, createRetentionService({ registry }));
      registerHealthService(router, { services: [RegistryService.typeName, RetentionService.typeName, ControlService.typeName], isHealthy: databaseOk, shutdown: shutdown.signal });
      registerReflectionService(router, [RegistryService, RetentionService, ControlService, HealthService]);
    };
    const rpc = connectNodeAdapter({
      routes,
      interceptors: [createErrorInterceptor(log), createAuthInterceptor(auth), createNulGuardInterceptor()],
      fallback: createHttpRoutes({ registry, auth, dataPlanes, databaseOk, log, failedLocations: () => storageLocations.failed(), metrics: () => metrics.render() }),
      readMaxBytes: 16 * 1024 * 1024,
      shutdownSignal: shutdown.signal,
    });
    // A call timeout longer than a timer can wait would fire at once (core/rpc/call-timeouts.ts).
    const handler: DualProtocolHandler = (req, res) => {
      capCallTimeouts(req.headers);
      (rpc as DualProtocolHandler)(req, res);
    };
    const server = await listenHttp1AndH2c({
      host: options.host,
      port: options.port,
      handler,
      // Byte routes are redirected without reading the body: never invite it with an automatic 100.
      checkContinue: handler,
      // Longer than the usual 60 s idle timeout of proxies and load balancers in front of the registry.
      keepAliveTimeoutMs: 65_000,
    });
    const host = server.address.family === 'IPv6' ? `[${server.address.address}]` : server.address.address;
    const url = `http://${host}:${server.address.port}`;
    log(`control plane listening on ${url} (${database.dialect})`);

    const sweeper = retention.sweepIntervalMs === null ? undefined : startRetentionSweeper({ sweep: (input) => registry.sweepRetention(input), intervalMs: retention.sweepIntervalMs, log });
    let closing: Promise<void> | undefined;
    return {
      url,
      internalToken,
      adminToken,
      close() {
        closing ??= (async () => {
          shutdown.abort();
          feed.close();
          await sweeper?.close();
          await server.close(2_000);
          if (ownsDatabase) await database.close();
        })();
        return closing;
      },
    };
  } catch (err) {
    shutdown.abort();
    if (ownsDatabase) await database.close();
    throw err;
  }
}
