// A data plane in a process of its own (fixtures/run-data-plane.ts: `runDataPlaneFromEnv`, as the CLI
// runs it) beside an in-process control plane, for tests that measure the process itself (memory, page
// faults, collections) or its start-up: the control plane a file's tests share, and the spawn.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Hash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll } from 'vitest';
import { startControlPlane, type RunningControlPlane } from '../../control-plane/server/control-plane-server.ts';
import { putStream } from '../support/put-stream.ts';
import { TOKEN_A, TOKEN_B } from './cluster.ts';


const FIXTURE = fileURLToPath(new URL('./fixtures/run-data-plane.ts', import.meta.url));

/** What the tests of one file share: a temporary directory and a control plane (tenants A and B). */
export interface ProcessTestBed {
  readonly dir: string;
  readonly controlPlane: RunningControlPlane;
}

/** Starts a control plane on PGlite in a temporary directory before the file's tests, and removes both after. */
export function useProcessTestBed(prefix: string): () => ProcessTestBed {
  let bed: ProcessTestBed | undefined;
  beforeAll(async () => {
    const dir = await mkdtemp(join(tmpdir(), prefix));
    const controlPlane = await startControlPlane({ host: '127.0.0.1', port: 0, dataDir: join(dir, 'cp'), database: { kind: 'pglite' }, tokensEnv: `tenant-a:alice:${TOKEN_A},tenant-b:bob:${TOKEN_B}` });
    bed = { dir, controlPlane };
  });
  afterAll(async () => {
    await bed?.controlPlane.close();
    if (bed !== undefined) await rm(bed.dir, { recursive: true, force: true });
  });
  return () => {
    if (bed === undefined) throw new Error('the test bed starts in beforeAll');
    return bed;
  };
}

/** A spawned data-plane process. */
export interface SpawnedDataPlane {
  readonly child: ChildProcess;
  /** Its URL once it serves; rejects with its stderr when it exits first. */
  readonly started: Promise<{ url: string }>;
  readonly stderr: () => string;
}

/** Spawns a data plane with only `env` (and PATH) for its environment and `args` for its flags. */
export function spawnDataPlane(env: NodeJS.ProcessEnv, args: readonly string[]): SpawnedDataPlane {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, ...args], { env: { PATH: process.env['PATH'], ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
  const started = new Promise<{ url: string }>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      const line = out.split('\n')[0];
      if (out.includes('\n') && line !== undefined) resolve(JSON.parse(line) as { url: string });
    });
    child.once('exit', (code) => reject(new Error(`data plane exited with ${code}: ${err}`)));
  });
  return { child, started, stderr: () => err };
}

/** {@link putStream} as tenant A; with `pauseAt`, waits for `until()` once `bytes` are sent. */
export function streamUpload(url: string, size: number, sha: Hash, pauseAt?: { bytes: number; until: () => Promise<void> }): Promise<{ status: number; body: string }> {
  return putStream(url, size, sha, { headers: { authorization: `Bearer ${TOKEN_A}` }, ...(pauseAt === undefined ? {} : { pauseAt }) });
}
