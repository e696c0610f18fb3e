/**
 * The process settings a data plane runs with (ADR 0016). They stop the process from spending CPU on
 * memory management while it streams; V8's heap limits and the peak memory stay as they were.
 *
 * - **V8: no incremental marking** (`--no-incremental-marking`, set by the process itself at start,
 *   {@link applyDataPlaneV8Flags}; V8 reads the flag each time it would start marking). After the
 *   process had been idle for a few seconds, V8's memory reducer lowered the old generation's limit
 *   to ~9 MB above the 13 MB heap, and once uploads ran, incremental marking started again within
 *   30–50 ms of finishing, for as long as they ran: ~0.6 CPU-s per GiB more on V8's helper threads,
 *   uploads a third slower ("marking runs", ADR 0015). Without incremental marking, full collections
 *   come when the limit is reached or external memory presses (atomic, ~2–12 ms on this heap). The
 *   prices: that pause, which grows with the heap (a data plane keeps its bytes outside it, in pooled
 *   blocks and external buffers); and the memory reducer, whose idle collections are incremental, no
 *   longer runs, so an idle data plane may keep tens of MiB of dead buffers until its next collection.
 * - **glibc: keep freed heap mapped** (`GLIBC_TUNABLES=glibc.malloc.trim_threshold=67108864:
 *   glibc.malloc.mmap_threshold=4194304`, in the environment when the process starts,
 *   {@link withDataPlaneProcessTuning}). node:http copies every received body chunk (≤ 64 KiB) into a
 *   new malloc'd buffer, and V8 frees them ~32 MiB at a time, at each scavenge. With glibc's default
 *   trim threshold (128 KiB) the freed top of the heap went back to the kernel each time, and the next
 *   32 MiB of chunks faulted in fresh zeroed pages: 100,000–240,000 page faults per GiB uploaded in
 *   about half of all processes (which half depends on how the heap happened to be laid out), ~0.3
 *   CPU-s per GiB on the main thread. The peak does not rise, because those pages held buffers a moment
 *   before. Setting the trim threshold also stops glibc from raising its mmap threshold, so it is set
 *   too ({@link DATA_PLANE_MMAP_THRESHOLD_BYTES}).
 *
 * glibc reads its tunables only when a process starts, so the launchers that spawn a data plane
 * (`artifactstore start`, the benchmarks) put them into the child's environment; an operator who runs
 * `artifactstore data-plane` directly sets them in the service unit (docs/OPERATOR.md), and the data
 * plane says so at start when it runs on glibc without them. A threshold already set (an operator's own
 * choice, as a tunable or through glibc's older `MALLOC_*_THRESHOLD_` variables) is left as it is.
 * Other C libraries ignore `GLIBC_TUNABLES`.
 */
import { setFlagsFromString } from 'node:v8';

/** The glibc tunable that sets how much free memory at the heap's top glibc keeps mapped. */
export const TRIM_THRESHOLD_TUNABLE = 'glibc.malloc.trim_threshold';

/** The threshold a data plane runs with: above the ~32 MiB of body buffers one scavenge frees. */
export const DATA_PLANE_TRIM_THRESHOLD_BYTES = 64 * 1024 * 1024;

/** The glibc tunable that sets from which size an allocation gets its own mapping. */
export const MMAP_THRESHOLD_TUNABLE = 'glibc.malloc.mmap_threshold';

/**
 * The mmap threshold a data plane runs with. Setting the trim threshold also fixes glibc's mmap threshold
 * (glibc otherwise raises it as large blocks are freed), and at its 128 KiB default every read buffer of
 * a download (1 MiB) would be a fresh mapping, faulted in page by page on each request. At 4 MiB those
 * buffers come from the heap and reuse its pages.
 */
export const DATA_PLANE_MMAP_THRESHOLD_BYTES = 4 * 1024 * 1024;

/** The V8 flags a data-plane process sets for itself at start. */
export const DATA_PLANE_V8_FLAGS = ['--no-incremental-marking'] as const;

/**
 * Sets {@link DATA_PLANE_V8_FLAGS} for this process (and its worker threads). Call once, first thing,
 * in a process that runs a data plane, never in one that hosts other work (tests run data planes in
 * process and must not change the test runner's collector).
 */
export function applyDataPlaneV8Flags(): void {
  for (const flag of DATA_PLANE_V8_FLAGS) setFlagsFromString(flag);
}

/** The value `tunables` (a `GLIBC_TUNABLES` string, `name=value:name=value`) gives `name`, if any. */
export function tunableValue(tunables: string | undefined, name: string): string | undefined {
  if (tunables === undefined) return undefined;
  let value: string | undefined;
  for (const item of tunables.split(':')) {
    const at = item.indexOf('=');
    // glibc takes the last setting of a name.
    if (at > 0 && item.slice(0, at) === name) value = item.slice(at + 1);
  }
  return value;
}

/** The glibc settings, each with the older variable glibc also reads for it. */
const SETTINGS = [
  { tunable: TRIM_THRESHOLD_TUNABLE, legacy: 'MALLOC_TRIM_THRESHOLD_', bytes: DATA_PLANE_TRIM_THRESHOLD_BYTES },
  { tunable: MMAP_THRESHOLD_TUNABLE, legacy: 'MALLOC_MMAP_THRESHOLD_', bytes: DATA_PLANE_MMAP_THRESHOLD_BYTES },
] as const;

/** True when `env` sets this glibc setting already, as a tunable or through its older variable. */
function isSet(env: NodeJS.ProcessEnv, setting: (typeof SETTINGS)[number]): boolean {
  return tunableValue(env.GLIBC_TUNABLES, setting.tunable) !== undefined || (env[setting.legacy] ?? '') !== '';
}

/** The `name=value` items {@link withDataPlaneProcessTuning} would add to `env`'s GLIBC_TUNABLES. */
function missingSettings(env: NodeJS.ProcessEnv): string[] {
  return SETTINGS.filter((setting) => !isSet(env, setting)).map((setting) => `${setting.tunable}=${setting.bytes}`);
}

/**
 * `env` for spawning a data plane: `GLIBC_TUNABLES` with the trim and mmap thresholds appended, each
 * unless `env` already sets it (as a tunable or as `MALLOC_TRIM_THRESHOLD_` / `MALLOC_MMAP_THRESHOLD_`).
 * Never changes `env` itself.
 */
export function withDataPlaneProcessTuning(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const missing = missingSettings(env);
  if (missing.length === 0) return env;
  const current = env.GLIBC_TUNABLES;
  return { ...env, GLIBC_TUNABLES: [...(current === undefined || current === '' ? [] : [current]), ...missing].join(':') };
}

/**
 * The glibc version this process runs on, or undefined for another C library or platform. Reads the
 * diagnostic report's header without its network part: building that part resolves the names of every
 * open socket synchronously (nodejs/node#46060).
 */
export function runtimeGlibcVersion(): string | undefined {
  if (process.platform !== 'linux') return undefined;
  // `excludeNetwork` is in Node 20.20's report API, not yet in its type definitions.
  const report = process.report as NodeJS.ProcessReport & { excludeNetwork: boolean };
  const excluded = report.excludeNetwork;
  report.excludeNetwork = true;
  try {
    const header = (report.getReport() as { header?: { glibcVersionRuntime?: unknown } }).header;
    return typeof header?.glibcVersionRuntime === 'string' ? header.glibcVersionRuntime : undefined;
  } finally {
    report.excludeNetwork = excluded;
  }
}

/**
 * The line a data plane logs at start when the environment it was started with (`env`) lacks one of its
 * glibc settings and it runs on glibc (`glibcVersion()`, asked only then); undefined when there is
 * nothing to say.
 */
export function processTuningHint(env: NodeJS.ProcessEnv, glibcVersion: () => string | undefined): string | undefined {
  const missing = missingSettings(env);
  if (missing.length === 0) return undefined;
  const version = glibcVersion();
  if (version === undefined) return undefined;
  return (
    `data plane: started without GLIBC_TUNABLES=${missing.join(':')} (glibc ${version}); ` +
    `uploads and downloads can take 15-30% more CPU without it. artifactstore start sets it; see "Process settings of a data plane" in docs/OPERATOR.md`
  );
}
