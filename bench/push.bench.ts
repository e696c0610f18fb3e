/**
 * Many small files through the CLI (issue 3): `artifactstore push` as a child process uploading
 * 10,000 × 4 KiB files (10,000 × `--size` / 1 GiB) in 100 directories and finalizing the package,
 * against the service as `npm start` runs it (PGlite) and on PostgreSQL. The figure is files per
 * second of the whole command, start-up included, as a user sees it; in-process SHA-256 of `--size`
 * bytes is measured in the same run for reference.
 *
 * Before each run the files get fresh random content (untimed), so no run is helped by objects an
 * earlier run stored, and then the machine's dirty pages are written out (`sync`, untimed), so no run
 * pays for what the bench itself has just written.
 *
 * `cli-pull-pglite` times the way back: `artifactstore pull` of such a package (pushed once, untimed)
 * into an empty directory, every digest checked; no target, for comparison with the push.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchCase, BenchSuite } from './bench-case.ts';
import { randomChunk, scaled, sha256Baseline } from './byte-source.ts';
import { COMMAND, startBenchService, type BenchService, type ServiceOptions } from './service-processes.ts';

const BASELINE = 'push-sha256-inprocess';
const FILE_BYTES = 4096;
const FILES_PER_DIRECTORY = 100;

/** Runs `artifactstore push`; resolves with its stdout, rejects with its stderr on a non-zero exit. */
function runPush(directory: string, subject: string, env: NodeJS.ProcessEnv): Promise<string> {
  return runCli(['push', directory, '--producer', 'bench', '--subject', subject, '--retention-class', 'transient', '--json'], env);
}

/** Runs the CLI as a child process; resolves with its stdout, rejects with its stderr on a non-zero exit. */
function runCli(cliArgs: readonly string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const args = [COMMAND, ...cliArgs];
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-16 * 1024)));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`artifactstore ${cliArgs[0] ?? ''} exited with ${code ?? 'a signal'}:\n${stderr}`))));
  });
}

function pushCase(name: string, database: ServiceOptions['database'], files: number): BenchCase {
  let service: BenchService | undefined;
  let directory: string | undefined;
  let runs = 0;
  return {
    name,
    description: `artifactstore push (child process, default --concurrency) of 10,000 x --size/1GiB 4 KiB files, ${database === 'pglite' ? 'PGlite' : 'PostgreSQL'} (target >= 1,000 files/s)`,
    targets: [{ label: 'files per second', unit: 'files/s', digits: 0, bound: { atLeast: 1000 }, figure: ({ metrics, seconds }) => (metrics['files'] ?? Number.NaN) / seconds }],
    // One 10,000-file push takes about 10 s here; with --repeat 3 a suite stays within a couple of minutes.
    budgetSeconds: 120,
    async setup() {
      directory = await mkdtemp(join(tmpdir(), 'as-bench-push-src-'));
      service = await startBenchService({ label: name, database });
    },
    async beforeRun() {
      await writeSourceFiles(directory ?? '', files);
      flushDirtyPages();
    },
    async run() {
      if (service === undefined || directory === undefined) throw new Error(`${name}: not set up`);
      const summary = JSON.parse(await runPush(directory, `${name}-${++runs}`, service.env)) as { file_count: number; total_bytes: number; status: string };
      if (summary.file_count !== files || summary.status !== 'finalized') throw new Error(`${name}: pushed ${summary.file_count} files (${summary.status}), expected ${files} finalized`);
      return { bytes: summary.total_bytes, metrics: { files: summary.file_count } };
    },
    async teardown() {
      await service?.stop();
      if (directory !== undefined) await rm(directory, { recursive: true, force: true });
    },
  };
}

/**
 * Writes out every dirty page of the machine (untimed, before a run). On ext4 an fsync commits the
 * journal for every file's metadata, so without this a push's syncs would also pay for the 10,000 files
 * this case (or the previous case's pull) has just written.
 */
function flushDirtyPages(): void {
  execFileSync('sync');
}

/** Writes `files` random 4 KiB files below `directory` (100 per subdirectory), the same paths every time. */
async function writeSourceFiles(directory: string, files: number): Promise<void> {
  const content = randomFillSync(Buffer.allocUnsafe(files * FILE_BYTES));
  for (let d = 0; d * FILES_PER_DIRECTORY < files; d++) await mkdir(join(directory, `d-${String(d).padStart(3, '0')}`), { recursive: true });
  for (let i = 0; i < files; i++) {
    await writeFile(join(directory, `d-${String(Math.floor(i / FILES_PER_DIRECTORY)).padStart(3, '0')}`, `f-${String(i).padStart(5, '0')}.bin`), content.subarray(i * FILE_BYTES, (i + 1) * FILE_BYTES));
  }
}

function pullCase(name: string, files: number): BenchCase {
  let service: BenchService | undefined;
  let scratch: string | undefined;
  let packageId = '';
  let runs = 0;
  const target = (): string => join(scratch ?? '', `pulled-${runs}`);
  return {
    name,
    description: `artifactstore pull (child process, default --concurrency) of a package of 10,000 x --size/1GiB 4 KiB files into an empty directory, every digest checked, PGlite (no target)`,
    targets: [{ label: 'files per second', unit: 'files/s', digits: 0, figure: ({ metrics, seconds }) => (metrics['files'] ?? Number.NaN) / seconds }],
    budgetSeconds: 120,
    async setup() {
      scratch = await mkdtemp(join(tmpdir(), 'as-bench-pull-'));
      await writeSourceFiles(join(scratch, 'source'), files);
      service = await startBenchService({ label: name, database: 'pglite' });
      packageId = (JSON.parse(await runPush(join(scratch, 'source'), name, service.env)) as { package_id: string }).package_id;
    },
    beforeRun() {
      // Each run pulls into a directory of its own; the copies go at teardown. Removing the previous
      // copy here made the run measure ext4 instead: on a filesystem without a journal (this VM's) the
      // inode allocator skips inodes freed in the last minutes (`recently_deleted`), and with 10,000
      // just freed in its groups it scanned them for every new file (half of the CLI's CPU in a profile).
      runs += 1;
      flushDirtyPages();
      return Promise.resolve();
    },
    async run() {
      if (service === undefined) throw new Error(`${name}: not set up`);
      const out = await runCli(['pull', packageId, target()], service.env);
      if (!out.startsWith(`${files} files written`)) throw new Error(`${name}: pull said ${JSON.stringify(out.slice(0, 200))}, expected ${files} files written`);
      return { bytes: files * FILE_BYTES, metrics: { files } };
    },
    async teardown() {
      await service?.stop();
      if (scratch !== undefined) await rm(scratch, { recursive: true, force: true });
    },
  };
}

/** `artifactstore push` of many 4 KiB files, on PGlite and on PostgreSQL, and `pull` of one such package. */
export const pushSuite: BenchSuite = {
  name: 'push',
  createCases({ size }): BenchCase[] {
    const files = scaled(10_000, size, 10);
    return [sha256Baseline(BASELINE, randomChunk(), size), pushCase('cli-push-pglite', 'pglite', files), pushCase('cli-push-postgres', 'postgres', files), pullCase('cli-pull-pglite', files)];
  },
};
