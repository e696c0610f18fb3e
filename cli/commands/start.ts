/**
 * `artifactstore start` (what `npm start` runs): one control plane and one data plane as two child
 * processes on the embedded default (PGlite + a local directory under ARTIFACTSTORE_DATA_DIR).
 * The control plane starts first; the data plane starts once the control plane answers its health
 * route. The data plane gets its glibc malloc setting in its environment (`GLIBC_TUNABLES`, ADR 0016).
 *
 * Stopping: Ctrl-C (SIGINT), SIGTERM or SIGHUP stops the data plane first and the control plane once the
 * data plane has exited (at most `DATA_PLANE_STOP_WAIT_MS` later), so the data plane deregisters while
 * the control plane still answers; a data plane that has still not exited once the control plane is down
 * is killed. A second signal (more than a second after the first: `npm start` passes each of the
 * terminal's SIGINTs on) stops both at once, a third kills them. If either process exits by itself, the
 * other is stopped too. The children run in sessions of their own (a terminal's Ctrl-C reaches only this
 * launcher) and close by themselves once this launcher is gone, even if it was killed
 * (`launcher-watch.ts`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { withDataPlaneProcessTuning } from '../../data-plane/process/process-tuning.ts';
import { binPath } from '../bin-path.ts';
import { keepRunningOnClosedPipe, type CommandIo } from '../command-io.ts';
import { LAUNCHER_PID_ENV } from './launcher-watch.ts';

/** Options of the launcher. */
export interface StartOptions {
  /** Control-plane listen address (host:port). */
  readonly controlPlaneListen: string;
  /** Data-plane listen address (host:port). */
  readonly dataPlaneListen: string;
}

const CLI = fileURLToPath(new URL('../main.ts', import.meta.url));
/**
 * tsx's loader as an absolute URL: a bare `--import tsx` would be resolved from the working
 * directory, so `artifactstore start` run outside the clone (where ./var should live) would fail.
 */
const TSX_LOADER = import.meta.resolve('tsx');

/**
 * How this CLI runs itself: through the `artifactstore` command when it was started that way (which
 * picks the compiled CLI when current, ADR 0021); as the same compiled entry when run directly; else
 * the TypeScript entry point through tsx.
 */
function selfCommand(): string[] {
  const bin = binPath();
  if (bin !== undefined) return [bin];
  if (!import.meta.url.endsWith('.ts') && process.argv[1] !== undefined) return [process.argv[1]];
  return ['--import', TSX_LOADER, CLI];
}

function launch(args: readonly string[], env: NodeJS.ProcessEnv, label: string, io: CommandIo): ChildProcess {
  const child = spawn(process.execPath, [...selfCommand(), ...args], { env: { ...env, [LAUNCHER_PID_ENV]: String(process.pid) }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const relay = (stream: NodeJS.ReadableStream | null, write: (line: string) => void): void => {
    let pending = '';
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) write(`[${label}] ${line}`);
    });
  };
  relay(child.stdout, io.out);
  relay(child.stderr, io.err);
  return child;
}

/**
 * Polls `url`/healthz until it answers 200. Rejects when `child` has exited (by itself or by a signal:
 * a server killed before it installed its handlers has no exit code), when `stop` is aborted (the
 * launcher is being stopped), or after `timeoutMs`.
 */
async function waitForHealth(url: string, child: ChildProcess, stop: AbortSignal, timeoutMs: number, name = 'control plane'): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    stop.throwIfAborted();
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${name} exited (${child.exitCode !== null ? `code ${child.exitCode}` : child.signalCode}) before becoming healthy`);
    try {
      const res = await fetch(`${url}/healthz`, { signal: AbortSignal.any([stop, AbortSignal.timeout(5000)]) });
      await res.body?.cancel();
      if (res.ok) return;
    } catch {
      // not listening yet (or stopped: checked at the top)
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${name} did not become healthy at ${url} within ${timeoutMs} ms`);
}

const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * How long the control plane waits for the data plane to exit before it is stopped anyway: a data
 * plane closes within ~7 s (deregistering 2 s, in-flight requests 5 s); the control plane drops one that
 * went silent after 15 s.
 */
export const DATA_PLANE_STOP_WAIT_MS = 10_000;

/**
 * A repeated signal within this long of the last one counted is the same request: `npm start` passes
 * each of the terminal's SIGINTs on to a launcher that got it from the terminal as well.
 */
const SAME_REQUEST_MS = 1000;

/** A launched server and its exit code (1 when it died of a signal). */
interface Launched {
  readonly name: string;
  readonly process: ChildProcess;
  readonly exit: Promise<number>;
}

function running(child: Launched): boolean {
  return child.process.exitCode === null && child.process.signalCode === null;
}

/** Resolves after `ms`, or at once when `promise` settles first. */
function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  return Promise.race([promise.then(() => true), timeout]).finally(() => clearTimeout(timer));
}

/** Runs both processes until a signal or until one of them exits; returns the exit code. */
export async function startCommand(io: CommandIo, options: StartOptions): Promise<number> {
  // A closed terminal (SIGHUP) must not end the launcher halfway through stopping its servers.
  keepRunningOnClosedPipe();
  const controlUrl = `http://${options.controlPlaneListen}`;
  const env = { ...io.env, ARTIFACTSTORE_LISTEN: options.controlPlaneListen };
  // In start order: the control plane, then the data plane. Stopped in the reverse order.
  const children: Launched[] = [];
  const stopRequested = new AbortController();
  let countedAt = 0;
  let requests = 0;
  let repeatTold = false;
  // The exit code of a process that exited before any stop was asked for: it died by itself, whatever
  // signal comes after.
  let diedFirst: number | undefined;
  let stopping: Promise<void> | undefined;
  const stopInOrder = (): Promise<void> =>
    (stopping ??= (async () => {
      const [control, data] = children;
      if (data !== undefined) {
        if (running(data)) data.process.kill('SIGTERM');
        if (!(await within(data.exit, DATA_PLANE_STOP_WAIT_MS))) io.err(`the data plane has not exited ${DATA_PLANE_STOP_WAIT_MS / 1000} s after SIGTERM; stopping the control plane anyway`);
      }
      if (control !== undefined) {
        if (running(control)) control.process.kill('SIGTERM');
        await control.exit;
      }
      // A data plane that hung is killed once the control plane is down: it holds no state of its own.
      if (data !== undefined && !(await within(data.exit, DATA_PLANE_STOP_WAIT_MS))) {
        io.err('the data plane still has not exited; killing it (SIGKILL)');
        data.process.kill('SIGKILL');
        await data.exit;
      }
    })());
  const onSignal = (signal: NodeJS.Signals): void => {
    const left = children.filter(running);
    if (requests === 0) {
      requests = 1;
      countedAt = performance.now();
      io.err(`received ${signal}, stopping the data plane, then the control plane`);
      stopRequested.abort(new Error(`received ${signal}`));
      void stopInOrder();
      return;
    }
    if (left.length === 0) return;
    if (performance.now() - countedAt < SAME_REQUEST_MS) {
      if (!repeatTold && requests < 3) io.err(`received ${signal} again within a second: the same request (send it again later ${requests === 1 ? 'to stop both at once' : 'to kill both'})`);
      repeatTold = true;
      return;
    }
    countedAt = performance.now();
    requests += 1;
    if (requests === 2) {
      io.err(`received ${signal} again, stopping ${left.map((child) => child.name).join(' and ')} at once`);
      for (const child of left) child.process.kill('SIGTERM');
    } else {
      io.err(`received ${signal} a third time, killing ${left.map((child) => child.name).join(' and ')} (SIGKILL)`);
      for (const child of left) child.process.kill('SIGKILL');
    }
  };
  for (const signal of STOP_SIGNALS) process.on(signal, onSignal);
  const track = (name: string, child: ChildProcess): Launched => {
    const exit = new Promise<number>((resolve) =>
      child.once('exit', (code) => {
        if (requests === 0) diedFirst ??= code ?? 1;
        resolve(code ?? 1);
      }),
    );
    const launched = { name, process: child, exit };
    children.push(launched);
    return launched;
  };
  try {
    const control = track('the control plane', launch(['control-plane'], env, 'control-plane', io));
    await waitForHealth(controlUrl, control.process, stopRequested.signal, 120_000);
    // A stop asked for while the control plane answered its last poll: the data plane is not started.
    stopRequested.signal.throwIfAborted();
    // glibc reads its tunables only when a process starts: the data plane's setting goes in here (ADR 0016).
    const data = track('the data plane', launch(['data-plane', '--control-plane', controlUrl, '--listen', options.dataPlaneListen], withDataPlaneProcessTuning(env), 'data-plane', io));
    // Said once it is true: a data plane that cannot listen exits instead.
    await waitForHealth(`http://${options.dataPlaneListen}`, data.process, stopRequested.signal, 120_000, 'data plane');
    io.out(`artifact-store running: control plane ${controlUrl}, data plane http://${options.dataPlaneListen} (Ctrl-C stops both)`);
    const first = await Promise.race(children.map((child) => child.exit));
    if (diedFirst !== undefined) io.err(`a process exited with code ${first}; stopping the other`);
    await stopInOrder();
    // Stopped on request: success. A process that died by itself: failure, even if it said 0.
    return diedFirst === undefined ? 0 : diedFirst === 0 ? 1 : diedFirst;
  } catch (err) {
    // Waited for: a child still writing to this launcher's pipes must not outlive their reader.
    await stopInOrder();
    if (requests > 0 && diedFirst === undefined) return 0; // stopped on request while starting
    throw err;
  } finally {
    for (const signal of STOP_SIGNALS) process.off(signal, onSignal);
  }
}
