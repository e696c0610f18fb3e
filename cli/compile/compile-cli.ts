/**
 * Compiles the CLI ahead of time (ADR 0021), so the `artifactstore` command starts without tsx
 * transforming and resolving each module: esbuild bundles `cli/main.ts` with everything it imports
 * from this repository (npm packages stay imports), one file per lazily imported command (code
 * splitting), into `<root>/dist/builds/<id>/`. `npm run build` runs this, and `npm ci` runs that
 * (`prepare`).
 *
 * - Worker threads are files started by URL (`new URL('./hash-worker.js', import.meta.url)`), which a
 *   bundle does not follow: each such file is copied next to the bundle, where the same URL then
 *   points (checked in the output). They are plain JavaScript importing only packages (checked too).
 * - Every source is read through one descriptor that is stat'ed first, and `dist/build.json` records
 *   those sizes and modification times (and tsconfig.json's and package.json's, stat'ed before the
 *   build): a source saved after it was read no longer matches, so the command runs the sources
 *   instead (`bin/compiled-cli.js`) until the next build.
 * - A build's directory is named by a hash of its output and never changed once in place; the record,
 *   naming it, is replaced by a rename. A process already running keeps finding the chunks and worker
 *   files of the build it started from while that build is among the three newest (made, or made
 *   current again), which are kept; building unchanged sources again changes nothing.
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { BUILD_RECORD, BUILD_RECORD_FORMAT, currentCompiledCli } from '../../bin/compiled-cli.js';

/** The project root (holds package.json, cli/ and dist/). */
export const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Builds kept under `dist/builds/` (the current one among them). */
export const KEPT_BUILDS = 3;

/** What a build produced. */
export interface CompileResult {
  /** The build's directory (`<root>/dist/builds/<id>`). */
  readonly buildDir: string;
  /** Files the build depends on, relative to the root (sources, worker files, configuration). */
  readonly sources: number;
  /** Worker files copied beside the bundle, relative to the root. */
  readonly workers: readonly string[];
  /** False when an identical build was already in place. */
  readonly created: boolean;
  readonly milliseconds: number;
}

/** Files besides the sources whose change changes the output: compiler settings, module type. */
const CONFIGURATION = ['tsconfig.json', 'package.json'];
/** A worker started by URL relative to its module: `new URL('./name.js', import.meta.url)`. */
const WORKER_URL = /new URL\(\s*(['"`])\.\/([\w.-]+\.js)\1\s*,\s*import\.meta\.url\s*\)/g;

/** A file read once, with what `fstat` said of it just before. */
interface ReadSource {
  readonly text: string;
  readonly size: number;
  readonly mtimeMs: number;
}

function readSource(path: string): ReadSource {
  const fd = openSync(path, 'r');
  try {
    const info = fstatSync(fd);
    return { text: readFileSync(fd, 'utf8'), size: info.size, mtimeMs: info.mtimeMs };
  } finally {
    closeSync(fd);
  }
}

/** Serves esbuild every `.ts` and `.js` file through `readSource`, remembering what was read. */
function recordingLoader(read: Map<string, ReadSource>): Plugin {
  return {
    name: 'artifactstore-recording-loader',
    setup(plugin) {
      plugin.onLoad({ filter: /\.[cm]?[jt]s$/ }, (args) => {
        const source = readSource(args.path);
        read.set(args.path, source);
        return { contents: source.text, loader: args.path.endsWith('ts') ? 'ts' : 'js' };
      });
    },
  };
}

/** Compiles the CLI of the project at `root` into `<root>/dist/builds/<id>/` and makes it current. */
export async function compileCli(root: string = PROJECT_ROOT): Promise<CompileResult> {
  const started = performance.now();
  const distDir = join(root, 'dist');
  const buildsDir = join(distDir, 'builds');
  await mkdir(buildsDir, { recursive: true });
  const staging = join(buildsDir, `.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    const recorded = new Map<string, [number, number]>();
    for (const name of CONFIGURATION) {
      const info = await stat(join(root, name));
      recorded.set(name, [info.size, info.mtimeMs]);
    }
    const read = new Map<string, ReadSource>();
    await build({
      absWorkingDir: root,
      entryPoints: ['cli/main.ts'],
      outdir: staging,
      bundle: true,
      splitting: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      packages: 'external',
      // Class and function names as in the sources (error names, stack traces).
      keepNames: true,
      sourcemap: 'linked',
      logLevel: 'silent',
      plugins: [recordingLoader(read)],
    });
    for (const [path, source] of read) recorded.set(rootRelative(root, path), [source.size, source.mtimeMs]);
    const workers = await copyWorkers(root, read, staging);
    for (const worker of workers) recorded.set(worker.source, [worker.read.size, worker.read.mtimeMs]);

    const id = await checkedOutputId(staging);
    const buildDir = join(buildsDir, id);
    const created = await rename(staging, buildDir).then(
      () => true,
      (error: NodeJS.ErrnoException) => {
        // The same output is already in place (an earlier or concurrent build of the same sources).
        if (error.code === 'ENOTEMPTY' || error.code === 'EEXIST') return false;
        throw error;
      },
    );
    // A build reused (the sources went back to an earlier state) is current again: newest for pruning.
    if (!created) {
      const now = new Date();
      await utimes(buildDir, now, now);
    }
    const inputs = Object.fromEntries([...recorded].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    const recordTemp = join(distDir, `.${BUILD_RECORD}.${process.pid}-${randomBytes(4).toString('hex')}`);
    await writeFile(recordTemp, `${JSON.stringify({ format: BUILD_RECORD_FORMAT, entry: `builds/${id}/main.js`, inputs }, null, 1)}\n`);
    await rename(recordTemp, join(distDir, BUILD_RECORD));
    await pruneBuilds(buildsDir, id);
    return { buildDir, sources: recorded.size, workers: workers.map((w) => w.source), created, milliseconds: performance.now() - started };
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

function rootRelative(root: string, path: string): string {
  return relative(root, path).split(sep).join('/');
}

/** Copies every worker file the bundled sources start by URL into `outDir`; returns them as read. */
async function copyWorkers(root: string, read: ReadonlyMap<string, ReadSource>, outDir: string): Promise<{ source: string; read: ReadSource }[]> {
  const workers = new Map<string, string>();
  for (const [path, source] of read) {
    for (const match of source.text.matchAll(WORKER_URL)) {
      const name = match[2] as string;
      const worker = join(dirname(path), name);
      const other = workers.get(name);
      if (other !== undefined && other !== worker) throw new Error(`two worker files named ${name} (${rootRelative(root, other)}, ${rootRelative(root, worker)}): the compiled CLI keeps them side by side, so names must differ`);
      workers.set(name, worker);
    }
  }
  const copied: { source: string; read: ReadSource }[] = [];
  for (const [name, path] of workers) {
    const source = rootRelative(root, path);
    const worker = readSource(path);
    const local = await localImports(root, path);
    if (local.length > 0) throw new Error(`worker ${source} imports ${local.join(', ')}, which its copy in the compiled CLI could not resolve: import packages and node: modules only`);
    await writeFile(join(outDir, basename(name)), worker.text);
    copied.push({ source, read: worker });
  }
  return copied;
}

/**
 * The files of this repository the worker at `path` imports (statically, dynamically or by re-export),
 * as esbuild's parser finds them: comments and JSDoc types do not count. Packages are left out.
 */
async function localImports(root: string, path: string): Promise<string[]> {
  const self = rootRelative(root, path);
  const result = await build({ absWorkingDir: root, entryPoints: [self], bundle: true, write: false, format: 'esm', platform: 'node', packages: 'external', metafile: true, logLevel: 'silent' });
  return Object.keys(result.metafile.inputs).filter((input) => input !== self);
}

/**
 * One read of the output: throws unless every worker URL in it names a file of the output, and returns
 * a name for it, the first 16 hex digits of a SHA-256 over its file names and contents.
 */
async function checkedOutputId(outDir: string): Promise<string> {
  const names = (await readdir(outDir)).sort();
  const present = new Set(names);
  const hash = createHash('sha256');
  for (const name of names) {
    const bytes = await readFile(join(outDir, name));
    hash.update(`${name}\0${bytes.byteLength}\0`).update(bytes);
    if (!name.endsWith('.js')) continue;
    for (const match of bytes.toString('utf8').matchAll(WORKER_URL)) {
      if (!present.has(match[2] as string)) throw new Error(`the compiled ${name} starts a worker ./${match[2]} that the build did not copy (write its URL as new URL('./${match[2]}', import.meta.url))`);
    }
  }
  return hash.digest('hex').slice(0, 16);
}

/** Leftovers of a build that was killed (staging directories, record drafts) older than this are removed. */
const LEFTOVER_MS = 60 * 60 * 1000;

/**
 * Removes builds beyond the newest `KEPT_BUILDS` (by modification time: made or made current again),
 * never `current`, and what killed builds left behind.
 */
async function pruneBuilds(buildsDir: string, current: string): Promise<void> {
  const now = new Date().getTime();
  const builds: { name: string; mtimeMs: number }[] = [];
  for (const name of await readdir(buildsDir)) {
    const info = await stat(join(buildsDir, name)).catch(() => undefined);
    if (info === undefined) continue;
    if (/^[0-9a-f]{16}$/.test(name)) builds.push({ name, mtimeMs: name === current ? Number.POSITIVE_INFINITY : info.mtimeMs });
    else if (name.startsWith('.tmp-') && now - info.mtimeMs > LEFTOVER_MS) await rm(join(buildsDir, name), { recursive: true, force: true });
  }
  builds.sort((a, b) => b.mtimeMs - a.mtimeMs);
  for (const old of builds.slice(KEPT_BUILDS)) await rm(join(buildsDir, old.name), { recursive: true, force: true });
  const distDir = dirname(buildsDir);
  for (const name of await readdir(distDir)) {
    if (!name.startsWith(`.${BUILD_RECORD}.`)) continue;
    const info = await stat(join(distDir, name)).catch(() => undefined);
    if (info !== undefined && now - info.mtimeMs > LEFTOVER_MS) await rm(join(distDir, name), { force: true });
  }
}

/** Compiles, then throws unless the command would run the build just made (for the bench and the tests). */
export async function compileCurrentCli(root: string = PROJECT_ROOT): Promise<CompileResult> {
  const result = await compileCli(root);
  if (currentCompiledCli(root) === undefined) throw new Error('the compiled CLI is not current right after compiling it (were sources edited meanwhile?)');
  return result;
}

const isMain = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1];
if (isMain) {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    process.stdout.write(
      'Usage: npm run build\n\nCompiles the artifactstore CLI into dist/ (ADR 0021). The command runs it while it matches the\nsources, and the TypeScript sources through tsx otherwise; `npm ci` builds it.\n',
    );
  } else {
    const entry = join(PROJECT_ROOT, 'cli', 'main.ts');
    stat(entry).then(
      () =>
        compileCli().then(
          (r) => process.stdout.write(`compiled the CLI into ${rootRelative(PROJECT_ROOT, r.buildDir)}/ from ${r.sources} files (workers: ${r.workers.join(', ')})${r.created ? '' : ', the same output as before,'} in ${Math.round(r.milliseconds)} ms\n`),
          (error: unknown) => {
            process.stderr.write(`build failed: ${error instanceof Error ? error.message : String(error)}\n`);
            process.exitCode = 1;
          },
        ),
      // An install before the sources are there (a container image copying package*.json first):
      // nothing to compile yet, and the command runs the sources anyway.
      () => process.stdout.write(`no ${rootRelative(PROJECT_ROOT, entry)}: nothing to compile\n`),
    );
  }
}
