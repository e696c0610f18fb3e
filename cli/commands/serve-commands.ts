/**
 * `artifactstore control-plane` and `artifactstore data-plane`: run one process until SIGINT/SIGTERM,
 * then close it gracefully (stop accepting, finish in-flight requests, close the database).
 */
import type { CommandIo } from '../command-io.ts';

/** A started server that can be closed. */
interface Closable {
  close(): Promise<void>;
}

async function serveUntilSignal(io: CommandIo, name: string, start: () => Promise<Closable>): Promise<number> {
  // The server logs its own address once listening.
  const server = await start();
  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      io.err(`${name}: received ${signal}, shutting down`);
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await server.close();
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
