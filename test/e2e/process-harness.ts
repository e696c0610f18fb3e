/**
 * Starts the real service as `artifactstore start` (two child processes: control plane and data
 * plane) on free loopback ports in a fresh data directory, waits until a data plane has registered,
 * and stops it by PID.
 */
import { spawn, type ChildProcess, type ChildProcessByStdio } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';

const ROOT = join(import.meta.dirname, '..', '..');

/**
 * How a test runs the CLI: `source`, the TypeScript entry point through tsx; `command`, the
 * `artifactstore` command (bin/artifactstore.js), which runs the compiled CLI when it is current.
 */
export type CliEntry = 'source' | 'command';

function cliArgs(entry: CliEntry): string[] {
  return entry === 'command' ? [join(ROOT, 'bin', 'artifactstore.js')] : ['--import', 'tsx', join(ROOT, 'cli', 'main.ts')];
}

/** The environment of a `command` run: the compiled CLI or a failure, never the tsx fallback. */
function cliEnv(entry: CliEntry, env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return entry === 'command' ? { ...env, ARTIFACTSTORE_CLI: 'compiled' } : env;
}

/** A running service. */
export interface ServiceUnderTest {
  readonly controlUrl: string;
  readonly dataUrl: string;
  readonly dataDir: string;
  /** The admin token the control plane generated on first start. */
  readonly token: string;
  /** Environment for CLI child processes talking to this service. */
  readonly env: NodeJS.ProcessEnv;
  /** Everything the processes printed so far. */
  output(): string;
  /** Stops both processes and removes the data directory, unless `keepDataDir` (then the caller removes it). */
  stop(options?: { keepDataDir?: boolean }): Promise<void>;
  /**
   * Ctrl-C as a terminal sends it: SIGINT to the whole foreground process group, then waits for `start`
   * to exit; only with `startService(…, { processGroup: true })`. The group holds `start` alone: the
   * servers it launches run in sessions of their own. `repeatAfterMs`: send it again that much after
   * `start` reported the first (what `npm start` does, passing the terminal's SIGINT on).
   */
  interrupt(options?: { readonly repeatAfterMs?: number }): Promise<void>;
  /** SIGINT to the foreground process group, as `interrupt` sends it, without waiting for anything. */
  pressCtrlC(): void;
  /** SIGKILL to `start` alone (its servers are left to notice), then waits for it to exit. */
  killLauncher(): Promise<void>;
  /** The process ids of the servers `start` launched: the control plane's, then the data plane's. */
  serverPids(): readonly number[];
  /** Waits for `start` to exit; its exit code (null when a signal ended it). */
  launcherExit(): Promise<number | null>;
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

/**
 * Runs the CLI as a child process; resolves with its exit code and output. A command still running
 * after `timeoutMs` is killed and rejected with what it printed, so a hang names its command.
 * `onStart` gets the child as soon as it is spawned (to watch its output or signal it).
 */
export function runCliProcess(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  timeoutMs = 90_000,
  entry: CliEntry = 'source',
  onStart?: (child: ChildProcessByStdio<null, Readable, Readable>) => void,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [...cliArgs(entry), ...args], { env: cliEnv(entry, env), cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    onStart?.(child);
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`artifactstore ${args.join(' ')} still running after ${timeoutMs} ms; killed.\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    // 'close', not 'exit': the output is read to its end before anyone looks at it.
    child.once('close', (code) => {
      clearTimeout(timer);
      const ms = performance.now() - started;
      if (ms > 20_000) process.stderr.write(`slow CLI call (${Math.round(ms)} ms): artifactstore ${args.join(' ')}\n`);
      resolve({ code: code ?? 1, stdout, stderr });
    });
  });
}

/** The arguments of process `pid` (empty when it is gone). */
function argvOf(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return [];
  }
}

/**
 * The processes whose environment names `launcherPid` as their launcher (`ARTIFACTSTORE_LAUNCHER_PID`):
 * the servers that `start` launched, wherever they were re-parented to.
 */
function launchedBy(launcherPid: number): number[] {
  const mark = `ARTIFACTSTORE_LAUNCHER_PID=${launcherPid}`;
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0').includes(mark)) found.push(Number(entry));
    } catch {
      // gone, or not ours to read
    }
  }
  return found;
}

/** The control plane and the data plane `launcherPid` launched, in that order (those found). */
function serversOf(launcherPid: number): number[] {
  const launched = launchedBy(launcherPid);
  return ['control-plane', 'data-plane'].flatMap((role) => launched.filter((pid) => argvOf(pid).includes(role)).slice(0, 1));
}

/** True while process `pid` runs: it exists and is not a zombie (exited, not yet reaped). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}

/** True once `check` holds (polled every 100 ms), false if it still does not after `timeoutMs`. */
export async function pollUntil(check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return true;
}

/** True once none of `pids` runs any more, false after `timeoutMs`. */
export function serversGone(pids: readonly number[], timeoutMs: number): Promise<boolean> {
  return pollUntil(() => !pids.some(alive), timeoutMs);
}

/** Starts the service and waits until it can take uploads. */
export async function startService(extraEnv: NodeJS.ProcessEnv = {}, options: { readonly processGroup?: boolean; readonly entry?: CliEntry } = {}): Promise<ServiceUnderTest> {
  const dataDir = await mkdtemp(join(tmpdir(), 'as-e2e-'));
  const [cp, dp] = [await freePort(), await freePort()];
  const controlUrl = `http://127.0.0.1:${cp}`;
  const env: NodeJS.ProcessEnv = { ...process.env, ARTIFACTSTORE_DATA_DIR: dataDir, ARTIFACTSTORE_URL: controlUrl, ...extraEnv };
  delete env['ARTIFACTSTORE_DATABASE_URL'];
  delete env['ARTIFACTSTORE_TOKEN'];
  const child: ChildProcess = spawn(process.execPath, [...cliArgs(options.entry ?? 'source'), 'start', '--control-plane-listen', `127.0.0.1:${cp}`, '--data-plane-listen', `127.0.0.1:${dp}`], { env: cliEnv(options.entry ?? 'source', env), cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: options.processGroup === true });
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (output += d));
  // 'close': the launcher has exited and its output has been read to the end.
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const launcherPid = child.pid as number;
  // The servers `start` launched (they run in sessions of their own), once it is ready: for the tests.
  let servers: number[] = [];
  const stop = async (options: { keepDataDir?: boolean } = {}): Promise<void> => {
    // Found by their environment: also those of a start that failed before the servers were counted.
    const launched = launchedBy(launcherPid);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
    if (!(await serversGone(launched, 30_000))) {
      // Only processes still launched by this launcher: a PID may have been reused meanwhile.
      const mine = new Set(launchedBy(launcherPid));
      for (const pid of launched.filter((pid) => mine.has(pid))) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // exited meanwhile
        }
      }
    }
    await serversGone(launched, 5_000);
    if (options.keepDataDir !== true) await rm(dataDir, { recursive: true, force: true });
  };
  try {
    const deadline = performance.now() + 90_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`service exited early:\n${output}`);
      if (performance.now() > deadline) throw new Error(`service not ready in time:\n${output}`);
      const health = await fetch(`${controlUrl}/healthz`).then((r) => (r.ok ? (r.json() as Promise<{ data_planes?: unknown[] }>) : undefined), () => undefined);
      if (health !== undefined && Array.isArray(health.data_planes) && health.data_planes.length > 0) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const token = (await readFile(join(dataDir, 'dev-token'), 'utf8')).trim();
    servers = serversOf(launcherPid);
    if (servers.length !== 2) throw new Error(`expected a control plane and a data plane launched by start, found processes ${JSON.stringify(servers)}:\n${output}`);
    const pressCtrlC = (): void => {
      if (options.processGroup !== true) throw new Error('Ctrl-C needs startService(…, { processGroup: true })');
      process.kill(-launcherPid, 'SIGINT');
    };
    const interrupt = async (interruptOptions: { readonly repeatAfterMs?: number } = {}): Promise<void> => {
      pressCtrlC();
      if (interruptOptions.repeatAfterMs !== undefined) {
        // Signals do not queue: the repeat is sent once the launcher has taken the first.
        if (!(await pollUntil(() => output.includes('received SIGINT'), 30_000))) throw new Error('start never reported the first SIGINT');
        await new Promise((resolve) => setTimeout(resolve, interruptOptions.repeatAfterMs));
        pressCtrlC();
      }
      await exited;
    };
    const killLauncher = async (): Promise<void> => {
      child.kill('SIGKILL');
      await exited;
    };
    const launcherExit = async (): Promise<number | null> => {
      await exited;
      return child.exitCode;
    };
    return { controlUrl, dataUrl: `http://127.0.0.1:${dp}`, dataDir, token, env, output: () => output, stop, interrupt, pressCtrlC, killLauncher, serverPids: () => servers, launcherExit };
  } catch (err) {
    await stop();
    throw err;
  }
}
