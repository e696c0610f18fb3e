/**
 * Starts a real control plane on 127.0.0.1, port 0, with three client tokens (tenants `ci` and
 * `assess`, and an admin), and builds clients over every transport the server speaks.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, type Client, type Interceptor, type Transport } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from '@connectrpc/connect-node';
import type { Clock } from '../../core/time/clock.ts';
import type { Database, DatabaseConfig } from '../../control-plane/db/database.ts';
import { startControlPlane, type RunningControlPlane } from '../../control-plane/server/control-plane-server.ts';
import { ControlService } from '../../gen/artifactstore/internal/v1/control_service_pb.ts';
import { RegistryService } from '../../gen/artifactstore/v1/registry_service_pb.ts';
import { RetentionService } from '../../gen/artifactstore/v1/retention_service_pb.ts';
import type { RetentionConfig } from '../../control-plane/config/operator-config.ts';

/** The client tokens every test server knows. */
export const TOKENS = {
  ci: 'ci-token-0123456789abcdef',
  assess: 'assess-token-0123456789abcdef',
  admin: 'admin-token-0123456789abcdef',
} as const;

/** Who calls: a configured token, a token nobody configured, or nobody. */
export type Who = keyof typeof TOKENS | 'bad' | 'none';

/** The transports under test. */
export type TransportName = 'connect-json' | 'connect-binary' | 'grpc' | 'grpc-web';

/** Every transport, for loops (typed so a new one must be handled). */
export const TRANSPORTS: readonly TransportName[] = ['connect-json', 'connect-binary', 'grpc', 'grpc-web'];

/** A running test server and ways to call it. */
export interface TestControlPlane {
  readonly cp: RunningControlPlane;
  readonly url: string;
  readonly dataDir: string;
  /** A RegistryService client calling as `who` over `transport` (default Connect JSON). */
  registry(who: Who, transport?: TransportName): Client<typeof RegistryService>;
  /** A RetentionService client calling as `who` over `transport` (default Connect JSON). */
  retention(who: Who, transport?: TransportName): Client<typeof RetentionService>;
  /** A ControlService client presenting the internal token (or `token`). */
  control(token?: string, transport?: TransportName): Client<typeof ControlService>;
  /** The bearer header value for `who` (undefined for none). */
  authorization(who: Who): string | undefined;
  close(): Promise<void>;
}

/** Options of the test server. */
export interface TestControlPlaneOptions {
  readonly database?: DatabaseConfig | Database;
  readonly anonRead?: boolean;
  readonly clock?: Clock;
  readonly dataPlaneTtlMs?: number;
  readonly log?: (line: string) => void;
  readonly retention?: RetentionConfig;
}

function bearer(value: string | undefined): Interceptor {
  return (next) => (req) => {
    if (value !== undefined) req.header.set('authorization', `Bearer ${value}`);
    return next(req);
  };
}

/** Starts a control plane for one test file. */
export async function startTestControlPlane(options: TestControlPlaneOptions = {}): Promise<TestControlPlane> {
  const dataDir = await mkdtemp(join(tmpdir(), 'as-cp-'));
  // The admin token comes from a file, the tenants' from the env form, to exercise both sources.
  const tokensFile = join(dataDir, 'tokens.json');
  await writeFile(tokensFile, JSON.stringify([{ token: TOKENS.admin, tenant: 'ops', name: 'operator', admin: true }]));
  const running = await startControlPlane({
    host: '127.0.0.1',
    port: 0,
    dataDir,
    database: options.database ?? { kind: 'pglite' },
    tokensFile,
    tokensEnv: `ci:jenkins:${TOKENS.ci},assess:guide-board:${TOKENS.assess}`,
    anonRead: options.anonRead === true,
    internalToken: 'internal-token-0123456789abcdef',
    eventPollMs: 50,
    ...(options.clock === undefined ? {} : { clock: options.clock }),
    ...(options.dataPlaneTtlMs === undefined ? {} : { dataPlaneTtlMs: options.dataPlaneTtlMs }),
    ...(options.retention === undefined ? {} : { retention: options.retention }),
    log: options.log ?? (() => {}),
  });
  const transports = new Map<string, Transport>();
  const tokenOf = (who: Who): string | undefined => (who === 'none' ? undefined : who === 'bad' ? 'not-a-configured-token-000' : TOKENS[who]);
  function transport(name: TransportName, token: string | undefined): Transport {
    const key = `${name}|${token ?? ''}`;
    let t = transports.get(key);
    if (t === undefined) {
      const interceptors = [bearer(token)];
      const baseUrl = running.url;
      switch (name) {
        case 'connect-json':
          t = createConnectTransport({ baseUrl, httpVersion: '1.1', interceptors });
          break;
        case 'connect-binary':
          t = createConnectTransport({ baseUrl, httpVersion: '1.1', useBinaryFormat: true, interceptors });
          break;
        case 'grpc':
          t = createGrpcTransport({ baseUrl, interceptors });
          break;
        case 'grpc-web':
          t = createGrpcWebTransport({ baseUrl, httpVersion: '1.1', interceptors });
          break;
      }
      transports.set(key, t);
    }
    return t;
  }
  return {
    cp: running,
    url: running.url,
    dataDir,
    registry: (who, name = 'connect-json') => createClient(RegistryService, transport(name, tokenOf(who))),
    retention: (who, name = 'connect-json') => createClient(RetentionService, transport(name, tokenOf(who))),
    control: (token = running.internalToken, name = 'connect-json') => createClient(ControlService, transport(name, token)),
    authorization: (who) => {
      const t = tokenOf(who);
      return t === undefined ? undefined : `Bearer ${t}`;
    },
    async close() {
      await running.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
