/**
 * Runs a data plane configured by the environment and command-line flags (what
 * `artifactstore data-plane` calls). Configuration is parsed once, here, into `DataPlaneEnvConfig`;
 * every error names the variable or flag that is wrong.
 *
 * | flag / variable | default |
 * |---|---|
 * | `--control-plane URL` / `ARTIFACTSTORE_CONTROL_PLANE_URL` | `http://127.0.0.1:8000` |
 * | `--listen HOST:PORT` / `ARTIFACTSTORE_DATA_PLANE_LISTEN` | `127.0.0.1:8001` |
 * | `--advertise-url URL` / `ARTIFACTSTORE_DATA_PLANE_ADVERTISE_URL` | `http://<listen>` |
 * | `ARTIFACTSTORE_INTERNAL_TOKEN` | contents of `<data dir>/internal-token` |
 * | `ARTIFACTSTORE_DATA_DIR` | `./var` |
 * | `ARTIFACTSTORE_STORAGE_ROOT` | `<data dir>/objects` (created if missing): the root of a local backend without `root` |
 * | `ARTIFACTSTORE_CONFIG` | operator TOML; its `[storage]` table configures the backends (docs/storage-backends.md) |
 * | `ARTIFACTSTORE_MAX_UPLOAD_BYTES` | 64 GiB |
 * | `ARTIFACTSTORE_UPLOAD_SWEEP_INTERVAL` | 600 seconds between upload sweeps (`files/upload-sweep.ts`); 0 turns them off |
 *
 * Not read here but by glibc when the process starts: `GLIBC_TUNABLES` should set
 * `glibc.malloc.trim_threshold` and `glibc.malloc.mmap_threshold` (`process/process-tuning.ts`, ADR
 * 0016); the data plane logs a hint when it runs on glibc without them. The process sets its own V8
 * flags (`--no-incremental-marking`).
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { applyDataPlaneV8Flags, processTuningHint, runtimeGlibcVersion } from './process/process-tuning.ts';
import { createDataPlaneMetrics } from './http/metrics.ts';
import { openBackends } from './storage/config/open-backends.ts';
import { DEFAULT_LOCAL_BACKEND_ID, loadStorageConfig } from './storage/config/storage-config.ts';
import { DEFAULT_MAX_UPLOAD_BYTES, DEFAULT_UPLOAD_SWEEP_INTERVAL_MS, startDataPlane, type RunningDataPlane } from './server/data-plane-server.ts';

/** Backend id of the local directory a data plane started from the environment uses. */
export const LOCAL_BACKEND_ID = DEFAULT_LOCAL_BACKEND_ID;

/** The parsed configuration. */
export interface DataPlaneEnvConfig {
  readonly controlPlaneUrl: string;
  readonly host: string;
  readonly port: number;
  readonly advertiseUrl: string | undefined;
  /** The token itself, or the file to read it from. */
  readonly internalToken: { readonly value: string } | { readonly file: string };
  readonly storageRoot: string;
  readonly maxUploadBytes: number;
  /** Milliseconds between upload sweeps; 0: none. */
  readonly uploadSweepIntervalMs: number;
}

/** A configuration problem, naming the variable or flag at fault. */
export class DataPlaneConfigError extends Error {
  override readonly name = 'DataPlaneConfigError';
}

/** Parses `env` and `args` (throws DataPlaneConfigError naming the bad key). */
export function parseDataPlaneConfig(env: NodeJS.ProcessEnv, args: readonly string[]): DataPlaneEnvConfig {
  let values: { 'control-plane'?: string | undefined; listen?: string | undefined; 'advertise-url'?: string | undefined };
  try {
    ({ values } = parseArgs({ args: [...args], options: { 'control-plane': { type: 'string' }, listen: { type: 'string' }, 'advertise-url': { type: 'string' } }, strict: true, allowPositionals: false }));
  } catch (error) {
    throw new DataPlaneConfigError(`data-plane: ${error instanceof Error ? error.message : String(error)}`);
  }
  const pick = (flag: string | undefined, name: string, fallback: string): [string, string] => {
    if (flag !== undefined) return [flag, `--${name}`];
    const key = ENV_OF_FLAG[name] ?? '';
    const value = env[key];
    return value === undefined || value === '' ? [fallback, key] : [value, key];
  };
  const [controlPlaneUrl, controlKey] = pick(values['control-plane'], 'control-plane', 'http://127.0.0.1:8000');
  requireHttpUrl(controlPlaneUrl, controlKey);
  const [listen, listenKey] = pick(values.listen, 'listen', '127.0.0.1:8001');
  const { host, port } = parseListen(listen, listenKey);
  const advertise = values['advertise-url'] ?? (env['ARTIFACTSTORE_DATA_PLANE_ADVERTISE_URL'] || undefined);
  if (advertise !== undefined) requireHttpUrl(advertise, values['advertise-url'] !== undefined ? '--advertise-url' : 'ARTIFACTSTORE_DATA_PLANE_ADVERTISE_URL');
  const dataDir = resolve(env['ARTIFACTSTORE_DATA_DIR'] || 'var');
  const token = env['ARTIFACTSTORE_INTERNAL_TOKEN'];
  const storageRoot = resolve(env['ARTIFACTSTORE_STORAGE_ROOT'] || join(dataDir, 'objects'));
  const maxText = env['ARTIFACTSTORE_MAX_UPLOAD_BYTES'];
  let maxUploadBytes = DEFAULT_MAX_UPLOAD_BYTES;
  if (maxText !== undefined && maxText !== '') {
    if (!/^[1-9]\d{0,15}$/.test(maxText) || !Number.isSafeInteger(Number(maxText))) throw new DataPlaneConfigError(`ARTIFACTSTORE_MAX_UPLOAD_BYTES must be a positive integer number of bytes, got ${JSON.stringify(maxText)}`);
    maxUploadBytes = Number(maxText);
  }
  const sweepText = env['ARTIFACTSTORE_UPLOAD_SWEEP_INTERVAL'];
  let uploadSweepIntervalMs = DEFAULT_UPLOAD_SWEEP_INTERVAL_MS;
  if (sweepText !== undefined && sweepText !== '') {
    if (!/^\d{1,7}$/.test(sweepText)) throw new DataPlaneConfigError(`ARTIFACTSTORE_UPLOAD_SWEEP_INTERVAL must be a whole number of seconds (0 turns the upload sweep off), got ${JSON.stringify(sweepText)}`);
    uploadSweepIntervalMs = Number(sweepText) * 1000;
  }
  return {
    controlPlaneUrl: controlPlaneUrl.replace(/\/+$/, ''),
    host,
    port,
    advertiseUrl: advertise?.replace(/\/+$/, ''),
    internalToken: token !== undefined && token !== '' ? { value: token } : { file: join(dataDir, 'internal-token') },
    storageRoot,
    maxUploadBytes,
    uploadSweepIntervalMs,
  };
}

const ENV_OF_FLAG: Record<string, string> = { 'control-plane': 'ARTIFACTSTORE_CONTROL_PLANE_URL', listen: 'ARTIFACTSTORE_DATA_PLANE_LISTEN' };

/** Parses the configuration, prepares the storage root and starts the data plane. */
export async function runDataPlaneFromEnv(env: NodeJS.ProcessEnv, args: readonly string[], log: (line: string) => void): Promise<RunningDataPlane> {
  const config = parseDataPlaneConfig(env, args);
  // This process runs a data plane and nothing else: its V8 flags (ADR 0016).
  applyDataPlaneV8Flags();
  // glibc read its tunables when the process started: too late to set, early enough to say (ADR 0016).
  // Asked before any socket is open (the glibc check reads a diagnostic report).
  const hint = processTuningHint(env, runtimeGlibcVersion);
  if (hint !== undefined) log(hint);
  const internalToken = 'value' in config.internalToken ? config.internalToken.value : await readTokenFile(config.internalToken.file);
  // Every configured backend is opened (S3 buckets and credentials checked) before the data plane
  // registers: a bad [storage] table stops the start with a message naming the key.
  const metrics = createDataPlaneMetrics();
  const storage = await openBackends(await loadStorageConfig(env), { env, defaultLocalRoot: config.storageRoot, onLocalSyncBehind: (backendId, seconds) => metrics.observeSyncBehind(backendId, seconds) });
  return startDataPlane({
    host: config.host,
    port: config.port,
    ...(config.advertiseUrl === undefined ? {} : { advertiseUrl: config.advertiseUrl }),
    controlPlaneUrl: config.controlPlaneUrl,
    internalToken,
    backend: storage.defaultBackend,
    backends: storage.all,
    maxUploadBytes: config.maxUploadBytes,
    uploadSweepIntervalMs: config.uploadSweepIntervalMs,
    metrics,
    log,
  });
}

async function readTokenFile(file: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new DataPlaneConfigError(`ARTIFACTSTORE_INTERNAL_TOKEN is not set and ${file} cannot be read (start the control plane first, or set the variable)`);
  }
  const token = text.trim();
  if (token === '') throw new DataPlaneConfigError(`${file} is empty; set ARTIFACTSTORE_INTERNAL_TOKEN`);
  return token;
}

function requireHttpUrl(value: string, key: string): void {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new DataPlaneConfigError(`${key} must be an http:// URL, got ${JSON.stringify(value)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new DataPlaneConfigError(`${key} must be an http:// or https:// URL, got ${JSON.stringify(value)}`);
}

function parseListen(value: string, key: string): { host: string; port: number } {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value);
  const port = Number(match?.[3]);
  if (match === null || port > 65535) throw new DataPlaneConfigError(`${key} must be HOST:PORT (e.g. 127.0.0.1:8001 or [::1]:8001), got ${JSON.stringify(value)}`);
  return { host: match[1] ?? match[2] ?? '', port };
}
