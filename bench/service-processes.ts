/**
 * The real service for benchmarks: a control plane and a data plane as two `artifactstore …` child
 * processes (bin/artifactstore.js, which runs the compiled CLI when it is current: ADR 0021), the two
 * commands `artifactstore start` runs, spawned here directly so the data plane's PID is known for RSS
 * sampling; on free loopback ports, in a fresh temporary data
 * directory, on embedded PGlite or on a throwaway PostgreSQL database created for the run and dropped
 * after it. Every process is stopped by its PID; a Ctrl-C during a run stops them too.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { withDataPlaneProcessTuning } from '../data-plane/process/process-tuning.ts';

const ROOT = join(import.meta.dirname, '..');
/** The `artifactstore` command (runs the compiled CLI, which bench/main.ts builds first: ADR 0021). */
export const COMMAND = join(ROOT, 'bin', 'artifactstore.js');

/**
 * PostgreSQL server the `postgres` cases create their throwaway database on (any database of it works
 * for `CREATE DATABASE`): ARTIFACTSTORE_BENCH_DATABASE_URL, else ARTIFACTSTORE_TEST_DATABASE_URL, else
 * the local default.
 */
export function postgresAdminUrl(env: NodeJS.ProcessEnv = process.env): string {
  return env['ARTIFACTSTORE_BENCH_DATABASE_URL'] || env['ARTIFACTSTORE_TEST_DATABASE_URL'] || 'postgres://postgres@127.0.0.1:5432/test';
}

/** How to run the service. */
export interface ServiceOptions {
  /** Short name for log lines and the temp directory. */
  readonly label: string;
  /** Embedded PGlite in the data directory, or a fresh PostgreSQL database. */
  readonly database: 'pglite' | 'postgres';
  /** Start a data plane too (default true). */
  readonly dataPlane?: boolean;
  /** Extra environment of both processes (e.g. ARTIFACTSTORE_CONFIG selecting a storage backend). */
  readonly env?: NodeJS.ProcessEnv;
}

/** A running service. */
export interface BenchService {
  readonly controlUrl: string;
  /** Base URL of the data plane (empty when started without one). */
  readonly dataUrl: string;
  /** PID of the data-plane process (undefined when started without one). */
  readonly dataPlanePid: number | undefined;
  readonly dataDir: string;
  /** The admin token the control plane generated (`<data dir>/dev-token`). */
  readonly token: string;
  /** Environment for CLI child processes talking to this service (URL, token, data dir). */
  readonly env: NodeJS.ProcessEnv;
  /** Stops every process by PID, drops the database, removes the data directory; safe to call twice. */
  stop(): Promise<void>;
}

/** A port that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** The environment without ARTIFACTSTORE_* settings of whoever runs the bench. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('ARTIFACTSTORE_')));
}

/** A child process with its recent output, stoppable by PID. */
interface Child {
  readonly process: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

const running = new Set<BenchService>();
let signalHandlersInstalled = false;

/** On Ctrl-C, stop every service still running before exiting. */
function installSignalHandlers(): void {
  if (signalHandlersInstalled) return;
  signalHandlersInstalled = true;
  const onSignal = (signal: NodeJS.Signals): void => {
    process.stderr.write(`bench: received ${signal}, stopping ${running.size} service(s)\n`);
    void Promise.allSettled([...running].map((service) => service.stop())).then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
}

function spawnCli(args: readonly string[], env: NodeJS.ProcessEnv): Child {
  // A data plane runs with the environment `artifactstore start` gives it (its glibc malloc setting, ADR 0016).
  const childEnv = args[0] === 'data-plane' ? withDataPlaneProcessTuning(env) : env;
  const child = spawn(process.execPath, [COMMAND, ...args], { env: childEnv, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (text: string): void => {
    output = (output + text).slice(-64 * 1024);
  };
  child.stdout?.setEncoding('utf8').on('data', keep);
  child.stderr?.setEncoding('utf8').on('data', keep);
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  return {
    process: child,
    output: () => output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGTERM');
      const timer = setTimeout(() => {
        if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
      }, 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

async function waitFor(what: string, child: Child, ready: () => Promise<boolean>, timeoutMs = 120_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (child.process.exitCode !== null || child.process.signalCode !== null) throw new Error(`${what} exited early:\n${child.output()}`);
    if (await ready().catch(() => false)) return;
    if (performance.now() > deadline) throw new Error(`${what} not ready in ${timeoutMs} ms:\n${child.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function healthz(controlUrl: string): Promise<{ data_planes?: unknown[] } | undefined> {
  const res = await fetch(`${controlUrl}/healthz`);
  if (res.ok) return (await res.json()) as { data_planes?: unknown[] };
  await res.body?.cancel();
  return undefined;
}

/** Creates `bench_<random>` on the PostgreSQL server; returns its URL and how to drop it. */
async function createThrowawayDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const adminUrl = postgresAdminUrl();
  const name = `bench_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}

/** Starts the service and waits until the control plane is healthy and (if asked) a data plane registered. */
export async function startBenchService(options: ServiceOptions): Promise<BenchService> {
  installSignalHandlers();
  const withDataPlane = options.dataPlane ?? true;
  const children: Child[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      // Data plane first, so it does not log a lost control plane; then the control plane.
      for (const child of [...children].reverse()) await child.stop();
      for (const cleanup of cleanups.reverse()) await cleanup().catch((error: unknown) => process.stderr.write(`bench: cleanup failed: ${String(error)}\n`));
    })());

  try {
    const dataDir = await mkdtemp(join(tmpdir(), `as-bench-${options.label}-`));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    // The compiled CLI or a failure (bench/main.ts builds it first), never a silent fall back to tsx.
    const env: NodeJS.ProcessEnv = { ...cleanEnv(), ARTIFACTSTORE_CLI: 'compiled', ...options.env, ARTIFACTSTORE_DATA_DIR: dataDir };
    if (options.database === 'postgres') {
      const database = await createThrowawayDatabase();
      cleanups.push(() => database.drop());
      env['ARTIFACTSTORE_DATABASE_URL'] = database.url;
    }
    const controlPort = await freePort();
    const controlUrl = `http://127.0.0.1:${controlPort}`;
    const control = spawnCli(['control-plane'], { ...env, ARTIFACTSTORE_LISTEN: `127.0.0.1:${controlPort}` });
    children.push(control);
    await waitFor('control plane', control, async () => (await healthz(controlUrl)) !== undefined);

    let dataUrl = '';
    let dataPlanePid: number | undefined;
    if (withDataPlane) {
      const dataPort = await freePort();
      dataUrl = `http://127.0.0.1:${dataPort}`;
      const data = spawnCli(['data-plane', '--control-plane', controlUrl, '--listen', `127.0.0.1:${dataPort}`], env);
      children.push(data);
      dataPlanePid = data.process.pid;
      await waitFor('data plane', data, async () => ((await healthz(controlUrl))?.data_planes?.length ?? 0) > 0);
    }
    const token = (await readFile(join(dataDir, 'dev-token'), 'utf8')).trim();
    const service: BenchService = {
      controlUrl,
      dataUrl,
      dataPlanePid,
      dataDir,
      token,
      env: { ...env, ARTIFACTSTORE_URL: controlUrl, ARTIFACTSTORE_TOKEN: token },
      stop: async () => {
        await stop();
        running.delete(service);
      },
    };
    running.add(service);
    return service;
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * One service shared by several cases of a suite: the first `acquire` starts it, the last `release`
 * stops it, so `--only` on any one case still works.
 */
export interface SharedService {
  acquire(): Promise<BenchService>;
  release(): Promise<void>;
}

/** Creates a {@link SharedService}. */
export function sharedService(options: ServiceOptions): SharedService {
  let users = 0;
  let started: Promise<BenchService> | undefined;
  return {
    acquire() {
      users += 1;
      started ??= startBenchService(options);
      return started;
    },
    async release() {
      users -= 1;
      if (users > 0 || started === undefined) return;
      const service = started;
      started = undefined;
      await (await service.catch(() => undefined))?.stop();
    },
  };
}

/** Memory figures of a process from `/proc/<pid>/status`, in bytes. */
export interface ProcessMemory {
  /** Resident set size now (VmRSS). */
  readonly rss: number;
  /** Peak resident set size (VmHWM) since start or the last {@link resetPeakRss}. */
  readonly peakRss: number;
}

/** Reads VmRSS and VmHWM of `pid` (Linux). */
export async function readProcessMemory(pid: number): Promise<ProcessMemory> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string): number => {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status);
    if (match === null) throw new Error(`/proc/${pid}/status has no ${field}`);
    return Number(match[1]) * 1024;
  };
  return { rss: kib('VmRSS'), peakRss: kib('VmHWM') };
}

/** Resets the peak RSS (VmHWM) of `pid` to its current RSS (Linux ≥ 4.0: `clear_refs` value 5). */
export async function resetPeakRss(pid: number): Promise<void> {
  await writeFile(`/proc/${pid}/clear_refs`, '5');
}
