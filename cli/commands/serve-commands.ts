/**
 * `artifactstore control-plane` and `artifactstore data-plane`: run one process until SIGINT/SIGTERM
 * (or, when `artifactstore start` launched it, until the launcher is gone: `launcher-watch.ts`), then
 * close it gracefully (stop accepting, finish in-flight requests, close the database).
 */
import { keepRunningOnClosedPipe, type CommandIo } from '../command-io.ts';
import { launcherOf, watchLauncher } from './launcher-watch.ts';

/** A started server that can be closed. */
interface Closable {
  close(): Promise<void>;
}

async function serveUntilSignal(io: CommandIo, name: string, start: () => Promise<Closable>): Promise<number> {
  // Launched by `artifactstore start`: a server whose log reader has gone (its launcher killed) still
  // closes its database cleanly.
  if (launcherOf(io.env) !== undefined) keepRunningOnClosedPipe();
  // The server logs its own address once listening.
  const server = await start();
  let stopping = false;
  let stopped: () => void = () => undefined;
  const requested = new Promise<void>((resolve) => (stopped = resolve));
  // Installed until the close has finished: a second signal (a second Ctrl-C in a terminal, a supervisor
  // repeating its SIGTERM) must not kill the process halfway through closing its database, which would
  // leave the embedded database's lock behind.
  const onSignal = (signal: NodeJS.Signals): void => {
    io.err(stopping ? `${name}: received ${signal}, still shutting down` : `${name}: received ${signal}, shutting down`);
    stopping = true;
    stopped();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const stopWatching = watchLauncher(io.env, (launcherPid) => {
    if (stopping) return;
    io.err(`${name}: its launcher (artifactstore start, pid ${launcherPid}) has exited, shutting down`);
    stopping = true;
    stopped();
  });
  try {
    await requested;
    await server.close();
  } finally {
    stopWatching();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  return 0;
}

/** Runs the control plane configured by the environment. */
export async function controlPlaneCommand(io: CommandIo): Promise<number> {
  const { runControlPlaneFromEnv } = await import('../../control-plane/main.ts');
  return serveUntilSignal(io, 'control plane', () => runControlPlaneFromEnv(io.env, io.err));
}

/** Runs a data plane configured by the environment and `args` (--control-plane URL, --listen ADDR). */
export async function dataPlaneCommand(io: CommandIo, args: readonly string[]): Promise<number> {
  const { runDataPlaneFromEnv } = await import('../../data-plane/main.ts');
  return serveUntilSignal(io, 'data plane', () => runDataPlaneFromEnv(io.env, args, io.err));
}
