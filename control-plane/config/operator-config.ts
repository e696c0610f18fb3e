/**
 * The operator's configuration file (`ARTIFACTSTORE_CONFIG`, TOML), parsed once at start-up into a
 * typed value and validated with errors that name the bad key. Absent file or absent keys: the
 * built-in defaults, which equal the values migration 0001 seeded into `retention_classes`.
 *
 * ```toml
 * [retention]
 * sweep_interval = "1h"          # how often the control plane runs the eligibility sweep; "off" disables it
 *
 * [retention.classes]             # default retention per class, applied when a package is created
 * transient = "30d"
 * raw-evidence = "365d"
 * summary-evidence = "1095d"
 * release-evidence = "3650d"
 * # permanent-record never expires and cannot be configured
 * ```
 *
 * Durations are `<integer><unit>` with unit `ms`, `s`, `m`, `h` or `d` (a day is 86 400 s; no
 * calendar arithmetic). `ARTIFACTSTORE_RETENTION_SWEEP_INTERVAL` overrides `retention.sweep_interval`.
 */
import { readFile } from 'node:fs/promises';
import { parse as parseToml } from 'smol-toml';
import { DEFAULT_STORAGE_CONFIG, parseStorageConfig, type StorageConfig } from '../../data-plane/storage/config/storage-config.ts';

/** The v1 retention classes, in their seeded order. */
export const RETENTION_CLASSES = ['transient', 'raw-evidence', 'summary-evidence', 'release-evidence', 'permanent-record'] as const;

/** One of the v1 retention classes. */
export type RetentionClassName = (typeof RETENTION_CLASSES)[number];

/** True when `name` is a v1 retention class. */
export function isRetentionClass(name: string): name is RetentionClassName {
  return (RETENTION_CLASSES as readonly string[]).includes(name);
}

/** How long a class keeps a package by default: a duration, or never expiring. */
export type ClassRetention = { readonly kind: 'duration'; readonly ms: number } | { readonly kind: 'never' };

/** Default retention per class. */
export type RetentionPolicy = Readonly<Record<RetentionClassName, ClassRetention>>;

/** The retention part of the configuration. */
export interface RetentionConfig {
  readonly classes: RetentionPolicy;
  /** Interval of the scheduled sweep; null when the operator turned it off. */
  readonly sweepIntervalMs: number | null;
}

/** The whole operator configuration. */
export interface OperatorConfig {
  readonly retention: RetentionConfig;
  /** Backends and routing (`[storage]`, shared with the data planes; see data-plane/storage/config/storage-config.ts). */
  readonly storage: StorageConfig;
}

const DAY_MS = 86_400_000;

/** Built-in defaults: the days seeded by migration 0001 (a test keeps the two in step). */
export const BUILTIN_RETENTION_POLICY: RetentionPolicy = {
  transient: { kind: 'duration', ms: 30 * DAY_MS },
  'raw-evidence': { kind: 'duration', ms: 365 * DAY_MS },
  'summary-evidence': { kind: 'duration', ms: 1095 * DAY_MS },
  'release-evidence': { kind: 'duration', ms: 3650 * DAY_MS },
  'permanent-record': { kind: 'never' },
};

/** Default sweep interval: one hour. */
export const DEFAULT_SWEEP_INTERVAL_MS = 3_600_000;

/** The configuration used when no file is given. */
export const DEFAULT_OPERATOR_CONFIG: OperatorConfig = { retention: { classes: BUILTIN_RETENTION_POLICY, sweepIntervalMs: DEFAULT_SWEEP_INTERVAL_MS }, storage: DEFAULT_STORAGE_CONFIG };

/** A configuration error; the message names the source and the key. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: DAY_MS };
/** Longest accepted duration: 1000 years, far beyond any retention and safely inside timestamps. */
const MAX_DURATION_MS = 1000 * 366 * DAY_MS;

/** Parses `<integer><unit>` (e.g. `30d`, `90m`, `500ms`) into milliseconds; `where` names the source. */
export function parseDuration(text: string, where: string): number {
  const m = /^\s*(\d{1,15})\s*(ms|s|m|h|d)\s*$/.exec(text);
  const ms = m === null ? NaN : Number(m[1]) * UNIT_MS[m[2]!]!;
  if (m === null || !Number.isSafeInteger(ms) || ms <= 0 || ms > MAX_DURATION_MS) {
    throw new ConfigError(`${where} must be a positive duration like "30d", "12h", "15m", "10s" or "500ms" (got ${JSON.stringify(text)})`);
  }
  return ms;
}

function isTable(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Date);
}

function checkKeys(table: Record<string, unknown>, allowed: readonly string[], where: string): void {
  for (const key of Object.keys(table)) if (!allowed.includes(key)) throw new ConfigError(`${where}: unknown key ${JSON.stringify(key)} (allowed: ${allowed.join(', ')})`);
}

function parseSweepInterval(value: unknown, where: string): number | null {
  if (typeof value !== 'string') throw new ConfigError(`${where} must be a string such as "1h" or "off"`);
  return value.trim() === 'off' ? null : parseDuration(value, where);
}

/**
 * Validates a parsed TOML document (`source` names the file in errors). Unknown keys are errors, so
 * a typo never silently falls back to a default.
 */
export function operatorConfigFromDocument(doc: unknown, source: string): OperatorConfig {
  if (!isTable(doc)) throw new ConfigError(`${source}: the document must be a table`);
  checkKeys(doc, ['retention', 'storage'], source);
  const retention = doc['retention'] ?? {};
  if (!isTable(retention)) throw new ConfigError(`${source}: retention must be a table`);
  checkKeys(retention, ['sweep_interval', 'classes'], `${source}: [retention]`);
  const classesDoc = retention['classes'] ?? {};
  if (!isTable(classesDoc)) throw new ConfigError(`${source}: retention.classes must be a table`);
  const classes: Record<RetentionClassName, ClassRetention> = { ...BUILTIN_RETENTION_POLICY };
  for (const [name, value] of Object.entries(classesDoc)) {
    const key = `${source}: retention.classes.${name}`;
    if (!isRetentionClass(name)) throw new ConfigError(`${key}: unknown retention class (classes: ${RETENTION_CLASSES.join(', ')})`);
    if (name === 'permanent-record') throw new ConfigError(`${key}: permanent-record never expires and cannot be configured`);
    if (typeof value !== 'string') throw new ConfigError(`${key} must be a duration string such as "365d"`);
    classes[name] = { kind: 'duration', ms: parseDuration(value, key) };
  }
  const interval = retention['sweep_interval'];
  const sweepIntervalMs = interval === undefined ? DEFAULT_SWEEP_INTERVAL_MS : parseSweepInterval(interval, `${source}: retention.sweep_interval`);
  let storage: StorageConfig;
  try {
    storage = parseStorageConfig(doc['storage'], source);
  } catch (err) {
    throw new ConfigError((err as Error).message, { cause: err });
  }
  return { retention: { classes, sweepIntervalMs }, storage };
}

/** Parses TOML text into a configuration; syntax errors name the source. */
export function parseOperatorConfig(text: string, source: string): OperatorConfig {
  let doc: unknown;
  try {
    doc = parseToml(text);
  } catch (err) {
    throw new ConfigError(`${source} is not valid TOML: ${(err as Error).message}`, { cause: err });
  }
  return operatorConfigFromDocument(doc, source);
}

/**
 * The configuration the environment selects: the TOML file named by `ARTIFACTSTORE_CONFIG` (or the
 * built-in defaults), then `ARTIFACTSTORE_RETENTION_SWEEP_INTERVAL` on top.
 */
export async function loadOperatorConfig(env: NodeJS.ProcessEnv): Promise<OperatorConfig> {
  const path = env['ARTIFACTSTORE_CONFIG'];
  let config = DEFAULT_OPERATOR_CONFIG;
  if (path !== undefined && path !== '') {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      throw new ConfigError(`ARTIFACTSTORE_CONFIG: cannot read ${path}: ${(err as Error).message}`, { cause: err });
    }
    config = parseOperatorConfig(text, path);
  }
  const interval = env['ARTIFACTSTORE_RETENTION_SWEEP_INTERVAL'];
  if (interval !== undefined && interval !== '') config = { ...config, retention: { ...config.retention, sweepIntervalMs: parseSweepInterval(interval, 'ARTIFACTSTORE_RETENTION_SWEEP_INTERVAL') } };
  return config;
}
