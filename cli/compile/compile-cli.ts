/**
 * Compiles the CLI ahead of time (ADR 0021), so the `artifactstore` command starts without tsx
 * transforming and resolving each module: esbuild bundles `cli/main.ts` with everything it imports
 * from this repository (npm packages stay imports), one file per lazily imported command (code
 * splitting), into `<root>/dist/`. `npm run build` runs this, and `npm ci` runs that (`prepare`).
 *
 * - Worker threads are files started by URL (`new URL('./hash-worker.js', import.meta.url)`), which a
 *   bundle does not follow: each such file is copied next to the bundle, where the same URL then
 *   points. They are plain JavaScript importing only packages (checked here).
 * - `build.json`, written last, records every source read (size and modification time), so the
 *   command can tell a build that no longer matches the sources and run the sources instead
 *   (`bin/compiled-cli.js`).
 * - The new build is written beside `dist/` and swapped in by renames: a command starting meanwhile
 *   finds the old build, the new one, or none (and then runs the sources), never half of one.
 */
import { copyFile, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { BUILD_RECORD, BUILD_RECORD_FORMAT } from '../../bin/compiled-cli.js';

/** The project root (holds package.json, cli/ and dist/). */
export const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** What a build produced. */
export interface CompileResult {
  readonly outDir: string;
  /** Source files read, relative to the root (the bundle's inputs and the worker files). */
  readonly sources: number;
  /** Worker files copied beside the bundle. */
  readonly workers: readonly string[];
  readonly milliseconds: number;
}

/** A worker started by URL relative to its module: `new URL('./name.js', import.meta.url)`. */
const WORKER_URL = /new URL\('\.\/([\w.-]+\.js)', import\.meta\.url\)/g;
/** A relative import in a worker file, which a copy beside the bundle could not resolve. */
const RELATIVE_IMPORT = /^\s*import\s[^'"]*['"]\.\.?\//m;

/**
 * Compiles the CLI of the project at `root` into `<root>/dist/` (replacing what is there).
 * The output must sit directly below the root: the CLI reads `../package.json` for its version.
 */
export async function compileCli(root: string = PROJECT_ROOT): Promise<CompileResult> {
  const started = performance.now();
  const outDir = join(root, 'dist');
  const staging = join(root, `dist.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    const result = await build({
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
      metafile: true,
      logLevel: 'silent',
    });
    const inputs = Object.keys(result.metafile.inputs);
    const workers = await copyWorkers(root, inputs, staging);
    const sources = [...inputs, ...workers.map((w) => w.source)];
    const record: Record<string, [number, number]> = {};
    for (const source of sources) {
      const info = await stat(join(root, source));
      record[source.split(sep).join('/')] = [info.size, info.mtimeMs];
    }
    await writeFile(join(staging, BUILD_RECORD), `${JSON.stringify({ format: BUILD_RECORD_FORMAT, entry: 'main.js', inputs: record }, null, 1)}\n`);
    await swapIn(staging, outDir);
    return { outDir, sources: sources.length, workers: workers.map((w) => w.source), milliseconds: performance.now() - started };
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/** Copies every worker file the bundled sources start by URL into `outDir`; returns them. */
async function copyWorkers(root: string, inputs: readonly string[], outDir: string): Promise<{ source: string; name: string }[]> {
  const workers = new Map<string, string>();
  for (const input of inputs) {
    const text = await readFile(join(root, input), 'utf8');
    for (const match of text.matchAll(WORKER_URL)) {
      const name = match[1] as string;
      const source = relative(root, join(root, dirname(input), name));
      const other = workers.get(name);
      if (other !== undefined && other !== source) throw new Error(`two worker files named ${name} (${other}, ${source}): the compiled CLI keeps them side by side, so names must differ`);
      workers.set(name, source);
    }
  }
  for (const [name, source] of workers) {
    const text = await readFile(join(root, source), 'utf8');
    if (RELATIVE_IMPORT.test(text)) throw new Error(`worker ${source} imports a relative path, which its copy in the compiled CLI could not resolve: import packages and node: modules only`);
    await copyFile(join(root, source), join(outDir, basename(name)));
  }
  return [...workers].map(([name, source]) => ({ source, name }));
}

/**
 * Replaces `outDir` with `staging` by renames (the old build is removed after). When another build
 * swaps its output in between the two renames, the target is no longer free: moved away again, a few
 * times, before giving up.
 */
async function swapIn(staging: string, outDir: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const old = `${staging}.old-${attempt}`;
    const moved = await rename(outDir, old).then(
      () => true,
      (error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return false;
        throw error;
      },
    );
    try {
      await rename(staging, outDir);
      return;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (attempt >= 5 || (code !== 'ENOTEMPTY' && code !== 'EEXIST')) throw error;
    } finally {
      if (moved) await rm(old, { recursive: true, force: true });
    }
  }
}

const isMain = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1];
if (isMain) {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    process.stdout.write('Usage: npm run build\n\nCompiles the artifactstore CLI into dist/ (ADR 0021). The command runs it while it matches the\nsources, and the TypeScript sources through tsx otherwise; `npm ci` builds it.\n');
  } else {
    compileCli().then(
      (r) => process.stdout.write(`compiled the CLI into ${relative(process.cwd(), r.outDir) || '.'}/ from ${r.sources} sources (workers: ${r.workers.join(', ')}) in ${Math.round(r.milliseconds)} ms\n`),
      (error: unknown) => {
        process.stderr.write(`build failed: ${error instanceof Error ? error.message : String(error)}\n`);
        process.exitCode = 1;
      },
    );
  }
}
