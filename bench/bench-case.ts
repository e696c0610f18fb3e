/**
 * The contract between benchmark files and the runner (`main.ts`). A benchmark file exports one
 * {@link BenchSuite}; `main.ts` lists the suites, so adding a benchmark is one new `*.bench.ts` file plus
 * one line in the registry.
 */

/** Run-wide settings a suite builds its cases from. */
export interface BenchOptions {
  /**
   * Bytes each case processes (`--size`). Cases whose work is not a byte count scale with it instead
   * (e.g. files or mutations per 1 GiB); their descriptions say how.
   */
  readonly size: number;
}

/** What one timed run reports. */
export interface BenchRun {
  /** Bytes processed, for the MB/s column. */
  readonly bytes: number;
  /**
   * Results that must agree across a suite's cases, e.g. `{ sha256: '<hex>' }`. The runner fails when two
   * cases report different values under the same key, so a fast but wrong implementation cannot win.
   */
  readonly check?: Readonly<Record<string, string>>;
  /**
   * Other figures the run measured, e.g. `{ files: 10000 }` or `{ p99Ms: 12.5 }`. The runner reports the
   * median of each across runs to the case's {@link BenchTarget}s.
   */
  readonly metrics?: Readonly<Record<string, number>>;
}

/** The medians a target is judged on. */
export interface BenchMeasured {
  /** Median seconds of the timed runs. */
  readonly seconds: number;
  /** Bytes of the last run. */
  readonly bytes: number;
  /** Median of each metric the runs reported. */
  readonly metrics: Readonly<Record<string, number>>;
  /** Bytes per second of the suite's baseline in this run; undefined when the suite has none. */
  readonly baselineBytesPerSecond: number | undefined;
}

/**
 * A figure of a case and the bound it must meet, printed as figure / target / pass-fail. A target
 * without a bound is printed for information only.
 */
export interface BenchTarget {
  /** What the figure is, e.g. `throughput vs sha256-inprocess` or `p99 commit-to-event`. */
  readonly label: string;
  /** Unit printed after the number, e.g. `x`, `files/s`, `MiB`, `ms`. */
  readonly unit: string;
  /** Digits after the decimal point (default 2). */
  readonly digits?: number;
  /** The figure must be at least (`atLeast`) or strictly below (`below`) this value. */
  readonly bound?: { readonly atLeast: number } | { readonly below: number };
  /** Computes the figure; NaN when it cannot be computed (the target then fails). */
  figure(measured: BenchMeasured): number;
}

/** One measured operation. Only `run` is timed. */
export interface BenchCase {
  /** Unique kebab-case name, used by `--only`. */
  readonly name: string;
  /** One line for `--list`. */
  readonly description: string;
  /** The case the suite's ratio column is relative to; at most one per suite. */
  readonly baseline?: boolean;
  /** Figures this case is judged by (see {@link BenchTarget}). */
  readonly targets?: readonly BenchTarget[];
  /**
   * Time budget in seconds: once this case's timed runs add up to more, it sits out the remaining
   * rounds (for cases whose one run can take minutes). At least one run always happens.
   */
  readonly budgetSeconds?: number;
  /** Untimed preparation (start workers, warm up). */
  setup?(): Promise<void>;
  /** Untimed preparation before each timed run (fresh input, reset counters). */
  beforeRun?(): Promise<void>;
  /** The timed operation. */
  run(): Promise<BenchRun>;
  /** Untimed cleanup; runs even when a run failed. */
  teardown?(): Promise<void>;
}

/** A named group of cases sharing a baseline. */
export interface BenchSuite {
  /** Unique kebab-case name, usable with `--only` to select every case of the suite. */
  readonly name: string;
  /** Runs only when named with `--only` (slow or diagnostic suites, e.g. parameter sweeps). */
  readonly optIn?: boolean;
  /** Builds the cases for this run. */
  createCases(options: BenchOptions): readonly BenchCase[];
}
