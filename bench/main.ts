/**
 * Benchmark runner (`npm run bench`). Runs every registered suite, or the ones picked with `--only`, and
 * prints one table per suite. Runs are interleaved (case A, B, C, then A, B, C again...) so drift in a
 * noisy machine spreads over all cases, and the median of `--repeat` runs is reported. A case with
 * targets gets figure / value / target / result columns, and a last line counts the targets met; a
 * missed target does not change the exit code (benchmarks report, they do not gate).
 *
 * To add a benchmark: write `bench/<topic>.bench.ts` exporting a `BenchSuite` and add it to `SUITES`.
 */
import { availableParallelism, cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import type { BenchCase, BenchRun, BenchSuite, BenchTarget } from './bench-case.ts';
import { hashTuningSuite } from './hash-tuning.bench.ts';
import { hashSuite } from './hash.bench.ts';
import { pushSuite } from './push.bench.ts';
import { s3Suite } from './s3.bench.ts';
import { transferSuite } from './transfer.bench.ts';
import { watchSuite } from './watch.bench.ts';
import { formatTable, type TableColumn } from './table.ts';
import { compileCurrentCli } from '../cli/compile/compile-cli.ts';

const SUITES: readonly BenchSuite[] = [hashSuite, hashTuningSuite, transferSuite, pushSuite, watchSuite, s3Suite];

const DEFAULT_SIZE = '1GiB';
const DEFAULT_REPEAT = 3;

const HELP = `Usage: npm run bench -- [options]

Options:
  --only NAME    run only this suite or case (repeatable); a suite's baseline always runs too;
                 opt-in suites (see --list) run only when named
  --size SIZE    bytes per case, e.g. 64MiB, 1GiB, 1000000 (default ${DEFAULT_SIZE}); the service
                 suites scale with it: transfer ingests and downloads SIZE (the peak-RSS ingest
                 4 x SIZE), push sends 10,000 x SIZE/1GiB files of 4 KiB, watch makes
                 1,000 x SIZE/1GiB mutations (64MiB: 625 files, 62 mutations)
  --repeat N     timed runs per case; the median is reported (default ${DEFAULT_REPEAT})
  --list         list suites and cases, then exit
  -h, --help     show this help

Suites: hash (dual hashing), hash-tuning (opt-in), and the issue-3 service benchmarks, each of which
starts the real processes (control plane, data plane) in a temporary directory and stops them after:
  transfer   HTTP and gRPC ingest, HTTP download, data-plane peak RSS (PGlite)
  push       artifactstore push of many 4 KiB files (PGlite and PostgreSQL)
  watch      commit-to-WatchEvents latency (PostgreSQL; PGlite for comparison)
PostgreSQL cases create and drop a database bench_<random> on ARTIFACTSTORE_BENCH_DATABASE_URL,
else ARTIFACTSTORE_TEST_DATABASE_URL, else postgres://postgres@127.0.0.1:5432/test.
`;

const UNITS: Readonly<Record<string, number>> = { '': 1, b: 1, k: 1024, kib: 1024, m: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gib: 1024 ** 3 };

/** Thrown for bad command-line input; printed without a stack trace. */
class UsageError extends Error {
  override readonly name = 'UsageError';
}

function parseSize(text: string): number {
  const match = /^(\d+)\s*([a-z]*)$/i.exec(text.trim());
  const multiplier = UNITS[(match?.[2] ?? '').toLowerCase()];
  const bytes = match === null || multiplier === undefined ? Number.NaN : Number(match[1]) * multiplier;
  if (!Number.isSafeInteger(bytes) || bytes < 1) throw new UsageError(`--size: expected a positive size like 64MiB or 1GiB, got ${JSON.stringify(text)}`);
  return bytes;
}

function parseRepeat(text: string): number {
  const repeat = Number(text);
  if (!Number.isInteger(repeat) || repeat < 1) throw new UsageError(`--repeat: expected an integer ≥ 1, got ${JSON.stringify(text)}`);
  return repeat;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** Fails when two runs (of any cases, any rounds) report different values for the same check key (e.g. different SHA-256s). */
function checkAgreement(suite: BenchSuite, allRuns: ReadonlyMap<BenchCase, readonly BenchRun[]>): void {
  const seen = new Map<string, { value: string; from: string }>();
  for (const [benchCase, runs] of allRuns) {
    runs.forEach((run, index) => {
      for (const [key, value] of Object.entries(run.check ?? {})) {
        const from = `${benchCase.name} (run ${index + 1})`;
        const first = seen.get(key);
        if (first === undefined) seen.set(key, { value, from });
        else if (first.value !== value) throw new Error(`${suite.name}: ${from} computed ${key} ${value}, ${first.from} computed ${first.value}`);
      }
    });
  }
}

/** A target's figure formatted for the table, and whether it met its bound. */
interface TargetResult {
  readonly suite: string;
  readonly caseName: string;
  readonly target: BenchTarget;
  readonly figure: number;
  /** Undefined for a target without a bound (information only). */
  readonly pass: boolean | undefined;
}

function formatNumber(value: number, digits: number): string {
  return Number.isFinite(value) ? value.toFixed(digits) : 'n/a';
}

function boundText(target: BenchTarget): string {
  const bound = target.bound;
  if (bound === undefined) return '-';
  const digits = target.digits ?? 2;
  return 'atLeast' in bound ? `>= ${formatNumber(bound.atLeast, digits)} ${target.unit}` : `< ${formatNumber(bound.below, digits)} ${target.unit}`;
}

function judge(target: BenchTarget, figure: number): boolean | undefined {
  const bound = target.bound;
  if (bound === undefined) return undefined;
  if (!Number.isFinite(figure)) return false;
  return 'atLeast' in bound ? figure >= bound.atLeast : figure < bound.below;
}

/** The 1-minute load average: other work on the machine skews every figure, so the tables show it. */
function loadText(): string {
  return `load average ${loadavg()[0]?.toFixed(2) ?? '?'} after the suite`;
}

/** Median of each metric over the runs that reported it. */
function medianMetrics(runs: readonly BenchRun[]): Record<string, number> {
  const values = new Map<string, number[]>();
  for (const run of runs) for (const [key, value] of Object.entries(run.metrics ?? {})) values.set(key, [...(values.get(key) ?? []), value]);
  return Object.fromEntries([...values].map(([key, list]) => [key, median(list)]));
}

async function runSuite(suite: BenchSuite, cases: readonly BenchCase[], repeat: number, size: number): Promise<{ text: string; targets: TargetResult[] }> {
  const seconds = new Map<BenchCase, number[]>(cases.map((benchCase) => [benchCase, []]));
  const allRuns = new Map<BenchCase, BenchRun[]>(cases.map((benchCase) => [benchCase, []]));
  const runs = new Map<BenchCase, BenchRun>();
  try {
    for (const benchCase of cases) {
      process.stderr.write(`${suite.name}: setting up ${benchCase.name}\n`);
      await benchCase.setup?.();
    }
    for (let round = 1; round <= repeat; round++) {
      process.stderr.write(`${suite.name}: round ${round}/${repeat}\n`);
      for (const benchCase of cases) {
        const spent = (seconds.get(benchCase) ?? []).reduce((sum, secs) => sum + secs, 0);
        if (benchCase.budgetSeconds !== undefined && spent > benchCase.budgetSeconds) {
          process.stderr.write(`  ${benchCase.name}: skipped, its runs took ${spent.toFixed(0)} s (budget ${benchCase.budgetSeconds} s)\n`);
          continue;
        }
        await benchCase.beforeRun?.();
        const start = process.hrtime.bigint();
        const run = await benchCase.run();
        const secs = Number(process.hrtime.bigint() - start) / 1e9;
        seconds.get(benchCase)?.push(secs);
        allRuns.get(benchCase)?.push(run);
        runs.set(benchCase, run);
        process.stderr.write(`  ${benchCase.name}: ${secs.toFixed(3)} s${run.metrics === undefined ? '' : ` ${JSON.stringify(run.metrics)}`}\n`);
      }
    }
  } finally {
    await Promise.allSettled(cases.flatMap((benchCase) => (benchCase.teardown === undefined ? [] : [benchCase.teardown()])));
  }
  checkAgreement(suite, allRuns);

  const baseline = cases.find((benchCase) => benchCase.baseline === true);
  const rateOf = (benchCase: BenchCase): number => (runs.get(benchCase)?.bytes ?? 0) / median(seconds.get(benchCase) ?? []);
  const baselineRate = baseline === undefined ? undefined : rateOf(baseline);
  const targets: TargetResult[] = [];
  const withTargets = cases.some((benchCase) => (benchCase.targets?.length ?? 0) > 0);
  const rows = cases.flatMap((benchCase) => {
    const secs = median(seconds.get(benchCase) ?? []);
    const bytes = runs.get(benchCase)?.bytes ?? 0;
    const rate = rateOf(benchCase);
    const ratio = baselineRate === undefined || bytes === 0 ? '-' : `${(rate / baselineRate).toFixed(2)}x`;
    const row = [benchCase.name, String(seconds.get(benchCase)?.length ?? 0), String(bytes), secs.toFixed(3), bytes === 0 ? '-' : (rate / 1e6).toFixed(0), ratio];
    if (!withTargets) return [row];
    const measured = { seconds: secs, bytes, metrics: medianMetrics(allRuns.get(benchCase) ?? []), baselineBytesPerSecond: baselineRate };
    const lines = (benchCase.targets ?? []).map((target, i) => {
      const figure = target.figure(measured);
      const pass = judge(target, figure);
      targets.push({ suite: suite.name, caseName: benchCase.name, target, figure, pass });
      const cells = [target.label, `${formatNumber(figure, target.digits ?? 2)} ${target.unit}`, boundText(target), pass === undefined ? '-' : pass ? 'pass' : 'FAIL'];
      return i === 0 ? [...row, ...cells] : [...row.map(() => ''), ...cells];
    });
    return lines.length === 0 ? [[...row, '', '', '', '']] : lines;
  });
  const columns: TableColumn[] = [
    { header: 'case' },
    { header: 'runs', align: 'right' },
    { header: 'bytes', align: 'right' },
    { header: 'seconds', align: 'right' },
    { header: 'MB/s', align: 'right' },
    { header: `ratio vs ${baseline?.name ?? 'baseline'}`, align: 'right' },
    ...(withTargets ? [{ header: 'figure' }, { header: 'value', align: 'right' as const }, { header: 'target', align: 'right' as const }, { header: 'result' }] : []),
  ];
  const table = formatTable(columns, rows);
  return { text: `## ${suite.name} (--size ${size}, median of up to ${repeat} interleaved runs; ${loadText()})\n\n${table}\n`, targets };
}

async function main(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      only: { type: 'string', multiple: true },
      size: { type: 'string' },
      repeat: { type: 'string' },
      list: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help === true) {
    process.stdout.write(HELP);
    return 0;
  }
  const size = parseSize(values.size ?? DEFAULT_SIZE);
  const repeat = parseRepeat(values.repeat ?? String(DEFAULT_REPEAT));
  const suites = SUITES.map((suite) => ({ suite, cases: suite.createCases({ size }) }));

  if (values.list === true) {
    for (const { suite, cases } of suites) {
      process.stdout.write(`${suite.name}${suite.optIn === true ? ' (only with --only)' : ''}\n`);
      for (const benchCase of cases) process.stdout.write(`  ${benchCase.name.padEnd(26)} ${benchCase.description}${benchCase.baseline === true ? ' [baseline]' : ''}\n`);
    }
    return 0;
  }

  const only = new Set(values.only ?? []);
  const known = new Set(suites.flatMap(({ suite, cases }) => [suite.name, ...cases.map((benchCase) => benchCase.name)]));
  const unknown = [...only].filter((name) => !known.has(name));
  if (unknown.length > 0) throw new UsageError(`--only: unknown ${unknown.join(', ')}; known: ${[...known].join(', ')}`);

  process.stdout.write(`node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'}, ${availableParallelism()} cores, load average ${loadavg()[0]?.toFixed(2) ?? '?'} at start\n`);
  // The services and the CLI run as the `artifactstore` command, compiled from these sources as
  // `npm ci` leaves it (ADR 0021); compiled here so no run measures a stale build or the tsx fallback.
  const compiled = await compileCurrentCli();
  process.stdout.write(`compiled the CLI from ${compiled.sources} sources in ${Math.round(compiled.milliseconds)} ms\n\n`);
  const judged: TargetResult[] = [];
  for (const { suite, cases } of suites) {
    const wholeSuite = only.has(suite.name) || (only.size === 0 && suite.optIn !== true);
    const picked = wholeSuite ? cases : cases.filter((benchCase) => only.has(benchCase.name));
    if (picked.length === 0) continue;
    const selected = cases.filter((benchCase) => picked.includes(benchCase) || benchCase.baseline === true);
    const result = await runSuite(suite, selected, repeat, size);
    judged.push(...result.targets);
    process.stdout.write(`${result.text}\n`);
  }
  const bounded = judged.filter((result) => result.pass !== undefined);
  if (bounded.length > 0) {
    const failed = bounded.filter((result) => result.pass === false);
    process.stdout.write(`targets met: ${bounded.length - failed.length} of ${bounded.length}${failed.length === 0 ? '' : ` (missed: ${failed.map((result) => `${result.caseName} ${result.target.label}`).join('; ')})`}\n`);
  }
  return 0;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  const usage = error instanceof UsageError || (error instanceof TypeError && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS'));
  process.stderr.write(`${usage ? `${(error as Error).message}\n\n${HELP}` : String(error instanceof Error ? (error.stack ?? error.message) : error)}\n`);
  process.exitCode = usage ? 2 : 1;
}
