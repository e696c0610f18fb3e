/**
 * The operator configuration: TOML parsed once into typed values, built-in defaults when absent,
 * errors that name the bad key, and the environment override of the sweep interval.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { BUILTIN_RETENTION_POLICY, DEFAULT_OPERATOR_CONFIG, loadOperatorConfig, parseDuration, parseOperatorConfig } from '../../control-plane/config/operator-config.ts';
import { runCli } from '../../cli/main.ts';

it('uses the built-in defaults without a file, and the file on top of them', async () => {
  expect(await loadOperatorConfig({})).toEqual(DEFAULT_OPERATOR_CONFIG);
  const config = parseOperatorConfig('[retention]\nsweep_interval = "15m"\n[retention.classes]\ntransient = "7d"\nrelease-evidence = "12h"\n', 'test.toml');
  expect(config.retention.sweepIntervalMs).toBe(900_000);
  expect(config.retention.classes).toEqual({ ...BUILTIN_RETENTION_POLICY, transient: { kind: 'duration', ms: 7 * 86_400_000 }, 'release-evidence': { kind: 'duration', ms: 43_200_000 } });
  expect(parseOperatorConfig('[retention]\nsweep_interval = "off"\n', 't').retention.sweepIntervalMs).toBeNull();
  expect(parseOperatorConfig('', 't')).toEqual(DEFAULT_OPERATOR_CONFIG);
});

it('names the bad key in every error', () => {
  const bad: [string, RegExp][] = [
    ['[retention.classes]\nforever = "1d"\n', /retention\.classes\.forever: unknown retention class/],
    ['[retention.classes]\npermanent-record = "1d"\n', /retention\.classes\.permanent-record: permanent-record never expires/],
    ['[retention.classes]\ntransient = 30\n', /retention\.classes\.transient must be a duration string/],
    ['[retention.classes]\ntransient = "30 days"\n', /retention\.classes\.transient must be a positive duration/],
    ['[retention.classes]\ntransient = "0d"\n', /retention\.classes\.transient must be a positive duration/],
    ['[retention]\nsweep_intervall = "1h"\n', /unknown key "sweep_intervall"/],
    ['[retenshun]\n', /unknown key "retenshun"/],
    ['[retention]\nsweep_interval = 3600\n', /retention\.sweep_interval must be a string/],
    ['[retention\n', /cfg\.toml is not valid TOML/],
  ];
  for (const [text, message] of bad) expect(() => parseOperatorConfig(text, 'cfg.toml'), text).toThrow(message);
  expect(parseDuration('500ms', 'x')).toBe(500);
  expect(() => parseDuration('-1s', 'x')).toThrow(/x must be a positive duration/);
});

it('reads ARTIFACTSTORE_CONFIG and lets ARTIFACTSTORE_RETENTION_SWEEP_INTERVAL override the interval', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'as-config-'));
  try {
    const path = join(dir, 'artifactstore.toml');
    await writeFile(path, '[retention]\nsweep_interval = "2h"\n[retention.classes]\nraw-evidence = "90d"\n');
    const config = await loadOperatorConfig({ ARTIFACTSTORE_CONFIG: path, ARTIFACTSTORE_RETENTION_SWEEP_INTERVAL: '5m' });
    expect(config.retention.sweepIntervalMs).toBe(300_000);
    expect(config.retention.classes['raw-evidence']).toEqual({ kind: 'duration', ms: 90 * 86_400_000 });
    await expect(loadOperatorConfig({ ARTIFACTSTORE_RETENTION_SWEEP_INTERVAL: 'hourly' })).rejects.toThrow(/ARTIFACTSTORE_RETENTION_SWEEP_INTERVAL must be a positive duration/);
    await expect(loadOperatorConfig({ ARTIFACTSTORE_CONFIG: join(dir, 'missing.toml') })).rejects.toThrow(/ARTIFACTSTORE_CONFIG: cannot read/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

it('explains the retention rules in the CLI help, and refuses bad usage before any call', async () => {
  const out: string[] = [];
  const err: string[] = [];
  const io = { out: (l: string) => out.push(l), err: (l: string) => err.push(l), progress: () => {}, env: {} };
  expect(await runCli(['retention', '--help'], io)).toBe(0);
  const help = out.join('\n');
  for (const word of ['extend', 'hold', 'release', 'sweep', 'history', 'show', 'strictly later', 'permanent-record', '--dry-run', 'nothing deletes bytes']) expect(help).toContain(word);
  expect(await runCli(['retention', 'extend', 'pkg_x', '--until', '2030-01-01T00:00:00Z'], io)).toBe(2);
  expect(err.at(-1)).toMatch(/--reason is mandatory/);
  expect(await runCli(['retention', 'extend', 'pkg_x', '--reason', 'r'], io)).toBe(2);
  expect(err.at(-1)).toMatch(/exactly one of --until and --by/);
  // Malformed values are usage errors too, found before any call (no server runs here).
  expect(await runCli(['retention', 'extend', 'pkg_x', '--by', '0d', '--reason', 'r'], io)).toBe(2);
  expect(err.at(-1)).toMatch(/--by must be a positive duration .*"0d".*see artifactstore retention --help/);
  expect(await runCli(['retention', 'extend', 'pkg_x', '--until', '2040-01-01', '--reason', 'r'], io)).toBe(2);
  expect(err.at(-1)).toMatch(/--until must be an RFC 3339 time with a zone/);
  expect(await runCli(['retention', 'sweep', '--as-of', 'yesterday'], io)).toBe(2);
  expect(err.at(-1)).toMatch(/--as-of must be an RFC 3339 time/);
  expect(await runCli(['retention', 'frobnicate'], io)).toBe(2);
  expect(await runCli(['retention', 'history', 'pkg_x', '--cbor'], io)).toBe(2);
});
