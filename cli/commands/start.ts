/**
 * `artifactstore start` (what `npm start` runs): one control plane and one data plane as two child
 * processes on the embedded default (PGlite + a local directory under ARTIFACTSTORE_DATA_DIR).
 * The control plane starts first; the data plane starts once the control plane answers its health
 * route. Ctrl-C (SIGINT/SIGTERM) stops both; if either exits, the other is stopped too. The data plane
 * gets its glibc malloc setting in its environment (`GLIBC_TUNABLES`, ADR 0016).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { withDataPlaneProcessTuning } from '../../data-plane/process/process-tuning.ts';
import { binPath } from '../bin-path.ts';
import type { CommandIo } from '../command-io.ts';

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
  const child = spawn(process.execPath, [...selfCommand(), ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
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

async function waitForHealth(url: string, child: ChildProcess, timeoutMs: number, name = 'control plane'): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${name} exited with code ${child.exitCode} before becoming healthy`);
    try {
      const res = await fetch(`${url}/healthz`);
      await res.body?.cancel();
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${name} did not become healthy at ${url} within ${timeoutMs} ms`);
}

/** Runs both processes until a signal or until one of them exits; returns the exit code. */
export async function startCommand(io: CommandIo, options: StartOptions): Promise<number> {
  const controlUrl = `http://${options.controlPlaneListen}`;
  const env = { ...io.env, ARTIFACTSTORE_LISTEN: options.controlPlaneListen };
  const children: ChildProcess[] = [];
  let signalled = false;
  const stopAll = (signal: NodeJS.Signals): void => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill(signal);
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    io.err(`received ${signal}, stopping`);
    signalled = true;
    stopAll('SIGTERM');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const control = launch(['control-plane'], env, 'control-plane', io);
    children.push(control);
    const exits = [new Promise<number>((resolve) => control.once('exit', (code) => resolve(code ?? 1)))];
    await waitForHealth(controlUrl, control, 120_000);
    if (!signalled) {
      // glibc reads its tunables only when a process starts: the data plane's setting goes in here (ADR 0016).
      const data = launch(['data-plane', '--control-plane', controlUrl, '--listen', options.dataPlaneListen], withDataPlaneProcessTuning(env), 'data-plane', io);
      children.push(data);
      exits.push(new Promise<number>((resolve) => data.once('exit', (code) => resolve(code ?? 1))));
      // Said once it is true: a data plane that cannot listen exits instead.
      await waitForHealth(`http://${options.dataPlaneListen}`, data, 120_000, 'data plane');
      io.out(`artifact-store running: control plane ${controlUrl}, data plane http://${options.dataPlaneListen} (Ctrl-C stops both)`);
    }
    const first = await Promise.race(exits);
    if (!signalled) io.err(`a process exited with code ${first}; stopping the other`);
    stopAll('SIGTERM');
    await Promise.all(exits);
    // Stopped on request: success. A process that died by itself: failure, even if it said 0.
    return signalled ? 0 : first === 0 ? 1 : first;
  } catch (err) {
    stopAll('SIGTERM');
    if (signalled) return 0; // stopped on request while starting
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
