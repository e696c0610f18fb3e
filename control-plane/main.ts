/**
 * Runs the control plane from environment variables (what `artifactstore control-plane` and
 * `npm start` call). Every variable is parsed here, once; a bad value fails start-up with an error
 * naming the variable.
 *
 * | variable                        | default          | meaning                                   |
 * |---------------------------------|------------------|-------------------------------------------|
 * | ARTIFACTSTORE_DATA_DIR          | ./var            | dev-token, internal-token, PGlite files   |
 * | ARTIFACTSTORE_DATABASE_URL      | PGlite in data dir | postgres://… or pglite://DIR            |
 * | ARTIFACTSTORE_LISTEN            | 127.0.0.1:8000   | HOST:PORT (IPv6 as [::1]:8000)            |
 * | ARTIFACTSTORE_TOKENS_FILE       | —                | JSON [{ token, tenant, name, admin? }]    |
 * | ARTIFACTSTORE_TOKENS            | —                | tenant:name:token,...                     |
 * | ARTIFACTSTORE_ANON_READ         | false            | true/false: reads without a token         |
 * | ARTIFACTSTORE_INTERNAL_TOKEN    | <data dir>/internal-token | token data planes present        |
 * | ARTIFACTSTORE_CONFIG            | —                | operator TOML (retention classes, sweep)  |
 * | ARTIFACTSTORE_RETENTION_SWEEP_INTERVAL | 1h / config | e.g. 15m; `off` disables the sweeper  |
 */
import { dataDirFromEnv } from './config/data-dir.ts';
import { databaseConfigFromEnv } from './config/database-env.ts';
import { loadOperatorConfig } from './config/operator-config.ts';
import { startControlPlane, type RunningControlPlane } from './server/control-plane-server.ts';

/** A listen address. */
export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/** Parses `HOST:PORT` (`[v6]:PORT` for IPv6); `variable` names the source in errors. */
export function parseListen(value: string, variable: string): ListenAddress {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value.trim());
  const port = m === null ? NaN : Number(m[3]);
  if (m === null || !Number.isInteger(port) || port > 65_535) throw new Error(`${variable} must be HOST:PORT, e.g. 127.0.0.1:8000 (got ${JSON.stringify(value)})`);
  return { host: m[1] ?? m[2]!, port };
}

/** Parses a boolean variable: true/false/1/0/yes/no (empty or unset: `fallback`). */
export function parseBoolean(value: string | undefined, variable: string, fallback: boolean): boolean {
  if (value === undefined || value.trim() === '') return fallback;
  const v = value.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(v)) return true;
  if (['false', '0', 'no', 'off'].includes(v)) return false;
  throw new Error(`${variable} must be true or false (got ${JSON.stringify(value)})`);
}

/** Starts a control plane configured by `env`; `log` receives its log lines. */
export async function runControlPlaneFromEnv(env: NodeJS.ProcessEnv, log: (line: string) => void): Promise<RunningControlPlane> {
  const dataDir = dataDirFromEnv(env);
  const database = databaseConfigFromEnv(env);
  const listen = parseListen(env['ARTIFACTSTORE_LISTEN'] ?? '127.0.0.1:8000', 'ARTIFACTSTORE_LISTEN');
  const anonRead = parseBoolean(env['ARTIFACTSTORE_ANON_READ'], 'ARTIFACTSTORE_ANON_READ', false);
  const internalToken = env['ARTIFACTSTORE_INTERNAL_TOKEN'];
  if (internalToken !== undefined && internalToken !== '' && internalToken.length < 16) throw new Error('ARTIFACTSTORE_INTERNAL_TOKEN must be at least 16 characters');
  const tokensFile = env['ARTIFACTSTORE_TOKENS_FILE'];
  const tokensEnv = env['ARTIFACTSTORE_TOKENS'];
  const config = await loadOperatorConfig(env);
  return startControlPlane({
    retention: config.retention,
    storage: config.storage,
    host: listen.host,
    port: listen.port,
    dataDir,
    database,
    anonRead,
    log,
    ...(internalToken === undefined || internalToken === '' ? {} : { internalToken }),
    ...(tokensFile === undefined || tokensFile === '' ? {} : { tokensFile }),
    ...(tokensEnv === undefined || tokensEnv === '' ? {} : { tokensEnv }),
  });
}
