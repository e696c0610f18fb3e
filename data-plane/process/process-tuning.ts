/**
 * Two process settings a data plane runs with (ADR 0016). Both stop the process from spending CPU on
 * memory management while it streams uploads; neither changes how much memory it may hold.
 *
 * - **V8: no incremental marking** (`--no-incremental-marking`, set by the process itself at start,
 *   {@link applyDataPlaneV8Flags}; V8 reads the flag each time it would start marking). After the
 *   process had been idle for a few seconds, V8's memory reducer lowered the old generation's limit
 *   to ~9 MB above the 13 MB heap, and once uploads ran, incremental marking started again within
 *   30–50 ms of finishing, for as long as they ran: ~0.6 CPU-s per GiB more on V8's helper threads,
 *   uploads a third slower ("marking runs", ADR 0015). Without incremental marking the same limit
 *   brings a full mark-compact only when it is reached: two per 2 GiB uploaded, ~12 ms each on this
 *   13 MB heap. The price is that pause, which grows with the heap; a data plane's heap stays small
 *   (its bytes live in pooled blocks and external buffers).
 * - **glibc: keep up to 64 MiB of freed heap mapped** (`GLIBC_TUNABLES=glibc.malloc.trim_threshold=
 *   67108864`, in the environment when the process starts, {@link withDataPlaneProcessTuning}).
 *   node:http copies every received body chunk (≤ 64 KiB) into a new malloc'd buffer, and V8 frees
 *   them ~32 MiB at a time, at each scavenge. With glibc's default threshold (128 KiB) the freed top
 *   of the heap went back to the kernel each time, and the next 32 MiB of chunks faulted in fresh
 *   zeroed pages: 100,000–240,000 page faults per GiB uploaded in about half of all processes (which
 *   half depends on how the heap happened to be laid out), ~0.3 CPU-s per GiB on the main thread. The
 *   peak does not rise, because those pages held buffers a moment before.
 *
 * glibc reads its tunables only when a process starts, so the launchers that spawn a data plane
 * (`artifactstore start`, the benchmarks) put the setting into the child's environment; an operator
 * who runs `artifactstore data-plane` directly sets it in the service unit (docs/OPERATOR.md), and the
 * data plane says so at start when it runs on glibc without it. A threshold already set (an operator's
 * own choice) is left as it is. Other C libraries ignore `GLIBC_TUNABLES`.
 */
import { setFlagsFromString } from 'node:v8';

/** The glibc tunable that sets how much free memory at the heap's top glibc keeps mapped. */
export const TRIM_THRESHOLD_TUNABLE = 'glibc.malloc.trim_threshold';

/** The threshold a data plane runs with: above the ~32 MiB of body buffers one scavenge frees. */
export const DATA_PLANE_TRIM_THRESHOLD_BYTES = 64 * 1024 * 1024;

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

/**
 * `env` for spawning a data plane: `GLIBC_TUNABLES` with the trim threshold appended, unless it already
 * sets one. Never changes `env` itself.
 */
export function withDataPlaneProcessTuning(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const current = env.GLIBC_TUNABLES;
  if (tunableValue(current, TRIM_THRESHOLD_TUNABLE) !== undefined) return env;
  const setting = `${TRIM_THRESHOLD_TUNABLE}=${DATA_PLANE_TRIM_THRESHOLD_BYTES}`;
  return { ...env, GLIBC_TUNABLES: current === undefined || current === '' ? setting : `${current}:${setting}` };
}

/** The glibc version this process runs on, or undefined for another C library or platform. */
export function runtimeGlibcVersion(): string | undefined {
  if (process.platform !== 'linux') return undefined;
  const header = (process.report.getReport() as { header?: { glibcVersionRuntime?: unknown } }).header;
  return typeof header?.glibcVersionRuntime === 'string' ? header.glibcVersionRuntime : undefined;
}

/**
 * The line a data plane logs at start when it runs on glibc (`glibcVersion`) and the environment it was
 * started with (`env`) sets no trim threshold; undefined when there is nothing to say.
 */
export function processTuningHint(env: NodeJS.ProcessEnv, glibcVersion: string | undefined): string | undefined {
  if (glibcVersion === undefined || tunableValue(env.GLIBC_TUNABLES, TRIM_THRESHOLD_TUNABLE) !== undefined) return undefined;
  return (
    `data plane: started without GLIBC_TUNABLES=${TRIM_THRESHOLD_TUNABLE}=${DATA_PLANE_TRIM_THRESHOLD_BYTES} (glibc ${glibcVersion}); ` +
    `uploads can take ~15% more CPU without it. artifactstore start sets it; see "Process settings of a data plane" in docs/OPERATOR.md`
  );
}
