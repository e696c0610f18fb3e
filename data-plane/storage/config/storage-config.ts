/**
 * The `[storage]` part of the operator configuration (`ARTIFACTSTORE_CONFIG`), read by both processes:
 * the control plane applies the routing rules when it authorizes a write; every data plane opens every
 * configured backend and writes where the control plane says. Parsed once into a discriminated union;
 * every error names the key at fault.
 *
 * ```toml
 * [storage]
 * default_backend = "ceph"            # required when several backends are configured
 *
 * [storage.backends.local]
 * kind = "local"
 * root = "/srv/artifactstore/objects"  # default: ARTIFACTSTORE_STORAGE_ROOT, else <data dir>/objects
 *
 * [storage.backends.ceph]
 * kind = "s3"                          # keys: see data-plane/storage/s3/s3-config.ts
 * endpoint_url = "http://rgw.internal:7480"
 * bucket = "artifacts"
 * access_key_ref = "env:ARTIFACTSTORE_RGW_ACCESS_KEY"
 * secret_key_ref = "file:/etc/artifactstore/s3-secret"
 *
 * [[storage.routing]]                  # first match wins; no match: default_backend
 * retention_classes = ["transient"]    # optional: any of these classes
 * producers = ["nightly-ci"]           # optional: any of these producers
 * backend = "local"
 * ```
 *
 * Without a `[storage]` table: one local backend with id `local` (what `npm start` always did).
 */
import { readFile } from 'node:fs/promises';
import { parse as parseToml } from 'smol-toml';
import { parseS3BackendConfig, S3_CONFIG_KEYS, type S3BackendConfig } from '../s3/s3-config.ts';

/** A local-directory backend. */
export interface LocalBackendConfig {
  readonly kind: 'local';
  readonly id: string;
  /** Directory of the store; undefined: ARTIFACTSTORE_STORAGE_ROOT or `<data dir>/objects`. */
  readonly root: string | undefined;
}

/** One configured backend. */
export type BackendConfig = LocalBackendConfig | S3BackendConfig;

/** A routing rule: files of packages matching it go to `backend`. An absent list matches everything. */
export interface RoutingRule {
  readonly retentionClasses: readonly string[] | undefined;
  readonly producers: readonly string[] | undefined;
  readonly backend: string;
}

/** The storage configuration. */
export interface StorageConfig {
  readonly backends: readonly BackendConfig[];
  readonly defaultBackend: string;
  readonly rules: readonly RoutingRule[];
}

/** Backend id of the built-in local store. */
export const DEFAULT_LOCAL_BACKEND_ID = 'local';

/** The configuration when the file has no `[storage]` table. */
export const DEFAULT_STORAGE_CONFIG: StorageConfig = {
  backends: [{ kind: 'local', id: DEFAULT_LOCAL_BACKEND_ID, root: undefined }],
  defaultBackend: DEFAULT_LOCAL_BACKEND_ID,
  rules: [],
};

/** A problem in `[storage]`; the message names the key. */
export class StorageConfigError extends Error {
  override readonly name = 'StorageConfigError';
}

const BACKEND_ID = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/** Validates the `storage` value of a parsed TOML document (undefined: the default). `source` names the file. */
export function parseStorageConfig(value: unknown, source: string): StorageConfig {
  if (value === undefined) return DEFAULT_STORAGE_CONFIG;
  const at = (key: string): string => `${source}: ${key}`;
  if (!isTable(value)) throw new StorageConfigError(`${at('storage')} must be a table`);
  checkKeys(value, ['default_backend', 'backends', 'routing'], at('[storage]'));
  const tables = value['backends'];
  if (!isTable(tables) || Object.keys(tables).length === 0) throw new StorageConfigError(`${at('storage.backends')} must hold at least one [storage.backends.<id>] table`);
  const backends: BackendConfig[] = [];
  for (const [id, table] of Object.entries(tables)) {
    const where = `storage.backends.${id}`;
    if (!BACKEND_ID.test(id)) throw new StorageConfigError(`${at(where)}: backend ids are 1-63 of a-z, 0-9, '_', '-'`);
    if (!isTable(table)) throw new StorageConfigError(`${at(where)} must be a table`);
    backends.push(parseBackend(id, table, where, at));
  }
  const ids = new Set(backends.map((b) => b.id));
  const givenDefault = value['default_backend'];
  if (givenDefault !== undefined && typeof givenDefault !== 'string') throw new StorageConfigError(`${at('storage.default_backend')} must be a backend id`);
  if (givenDefault === undefined && backends.length > 1) throw new StorageConfigError(`${at('storage.default_backend')} is required when several backends are configured`);
  const defaultBackend = givenDefault ?? backends[0]?.id ?? '';
  if (!ids.has(defaultBackend)) throw new StorageConfigError(`${at('storage.default_backend')}: no backend ${JSON.stringify(defaultBackend)} is configured (have: ${[...ids].join(', ')})`);
  return { backends, defaultBackend, rules: parseRules(value['routing'], ids, at) };
}

function parseBackend(id: string, table: Record<string, unknown>, where: string, at: (key: string) => string): BackendConfig {
  const kind = table['kind'];
  switch (kind) {
    case 'local': {
      checkKeys(table, ['kind', 'root'], at(where));
      const root = table['root'];
      if (root !== undefined && (typeof root !== 'string' || root === '')) throw new StorageConfigError(`${at(`${where}.root`)} must be a directory path`);
      return { kind: 'local', id, root };
    }
    case 's3':
      checkKeys(table, S3_CONFIG_KEYS, at(where));
      try {
        return parseS3BackendConfig(id, table, where);
      } catch (error) {
        throw new StorageConfigError(at((error as Error).message), { cause: error });
      }
    default:
      throw new StorageConfigError(`${at(`${where}.kind`)} must be "local" or "s3"`);
  }
}

function parseRules(value: unknown, ids: ReadonlySet<string>, at: (key: string) => string): RoutingRule[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new StorageConfigError(`${at('storage.routing')} must be an array of tables ([[storage.routing]])`);
  return value.map((rule: unknown, index) => {
    const where = `storage.routing[${index}]`;
    if (!isTable(rule)) throw new StorageConfigError(`${at(where)} must be a table`);
    checkKeys(rule, ['retention_classes', 'producers', 'backend'], at(where));
    const backend = rule['backend'];
    if (typeof backend !== 'string' || !ids.has(backend)) throw new StorageConfigError(`${at(`${where}.backend`)} must name a configured backend (have: ${[...ids].join(', ')})`);
    return { retentionClasses: stringList(rule['retention_classes'], at(`${where}.retention_classes`)), producers: stringList(rule['producers'], at(`${where}.producers`)), backend };
  });
}

/** The backend new files of a package with this class and producer go to. */
export function routeBackend(config: StorageConfig, pkg: { readonly retentionClass: string; readonly producer: string }): string {
  for (const rule of config.rules) {
    if (rule.retentionClasses !== undefined && !rule.retentionClasses.includes(pkg.retentionClass)) continue;
    if (rule.producers !== undefined && !rule.producers.includes(pkg.producer)) continue;
    return rule.backend;
  }
  return config.defaultBackend;
}

/** Parses TOML text and returns its storage configuration. */
export function parseStorageConfigText(text: string, source: string): StorageConfig {
  let doc: unknown;
  try {
    doc = parseToml(text);
  } catch (error) {
    throw new StorageConfigError(`${source} is not valid TOML: ${(error as Error).message}`, { cause: error });
  }
  return parseStorageConfig(isTable(doc) ? doc['storage'] : undefined, source);
}

/** The storage configuration the environment selects (`ARTIFACTSTORE_CONFIG`, else the default). */
export async function loadStorageConfig(env: NodeJS.ProcessEnv): Promise<StorageConfig> {
  const path = env['ARTIFACTSTORE_CONFIG'];
  if (path === undefined || path === '') return DEFAULT_STORAGE_CONFIG;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new StorageConfigError(`ARTIFACTSTORE_CONFIG: cannot read ${path}: ${(error as Error).message}`, { cause: error });
  }
  return parseStorageConfigText(text, path);
}

function stringList(value: unknown, where: string): readonly string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.length === 0 || !value.every((v) => typeof v === 'string' && v !== '')) throw new StorageConfigError(`${where} must be a non-empty array of strings`);
  return value as string[];
}

function isTable(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Date);
}

function checkKeys(table: Record<string, unknown>, allowed: readonly string[], where: string): void {
  for (const key of Object.keys(table)) if (!allowed.includes(key)) throw new StorageConfigError(`${where}: unknown key ${JSON.stringify(key)} (allowed: ${allowed.join(', ')})`);
}
