/**
 * The compiled CLI (ADR 0021): `compileCli` bundles a project's `cli/main.ts` into
 * `dist/builds/<id>/` with its worker files beside it, and records every file read in `dist/build.json`;
 * `currentCompiledCli` accepts that build only while every recorded file is unchanged. Run on a small project of its own in a temporary
 * directory (the real CLI's build is exercised by the push-pull end-to-end test).
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BUILD_RECORD, currentCompiledCli } from '../../bin/compiled-cli.js';
import { compileCli } from '../../cli/compile/compile-cli.ts';

let root: string;

async function put(path: string, text: string): Promise<void> {
  await mkdir(join(root, path, '..'), { recursive: true });
  await writeFile(join(root, path), text);
}

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'as-compile-'));
  await put('cli/main.ts', "import { workerUrl } from '../lib/pool.ts';\nconst lazy = await import('./command.ts');\nprocess.stdout.write(`${workerUrl()} ${lazy.name}\\n`);\n");
  await put('cli/command.ts', "export const name: string = 'command';\n");
  await put('lib/pool.ts', "export function workerUrl(): string {\n  return new URL('./pool-worker.js', import.meta.url).href;\n}\n");
  await put('lib/pool-worker.js', "import { parentPort } from 'node:worker_threads';\nparentPort?.postMessage('ready');\n");
  await put('tsconfig.json', '{ "compilerOptions": { "strict": true } }\n');
  await put('package.json', '{ "name": "fixture", "type": "module" }\n');
});

/** The entry of the current build, as the record names it. */
async function entry(): Promise<string> {
  return join(root, 'dist', (JSON.parse(await readFile(join(root, 'dist', BUILD_RECORD), 'utf8')) as { entry: string }).entry);
}

/** What the fixture's compiled entry prints. */
async function runBuilt(): Promise<string> {
  return execFileSync(process.execPath, [await entry()], { encoding: 'utf8' }).trim();
}

/** The root's entries and the builds kept, to see that nothing is left half-made. */
async function layout(): Promise<{ root: string[]; dist: string[]; builds: number }> {
  const builds = await readdir(join(root, 'dist', 'builds')).catch(() => []);
  expect(builds.every((name) => /^[0-9a-f]{16}$/.test(name)), builds.join(', ')).toBe(true);
  return { root: (await readdir(root)).sort(), dist: (await readdir(join(root, 'dist')).catch(() => [])).sort(), builds: builds.length };
}

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('compileCli', () => {
  it('bundles the entry point, copies the worker files beside it and records every file it read', async () => {
    const result = await compileCli(root);
    expect(result.buildDir).toMatch(new RegExp(`^${join(root, 'dist', 'builds')}/[0-9a-f]{16}$`));
    expect(result.created).toBe(true);
    expect(result.workers).toEqual(['lib/pool-worker.js']);
    const record = JSON.parse(await readFile(join(root, 'dist', BUILD_RECORD), 'utf8')) as { entry: string; inputs: Record<string, [number, number]> };
    expect(join(root, 'dist', record.entry)).toBe(join(result.buildDir, 'main.js'));
    expect(Object.keys(record.inputs)).toEqual(['cli/command.ts', 'cli/main.ts', 'lib/pool-worker.js', 'lib/pool.ts', 'package.json', 'tsconfig.json']);
    const info = await stat(join(root, 'lib', 'pool.ts'));
    expect(record.inputs['lib/pool.ts']).toEqual([info.size, info.mtimeMs]);
    expect(await readFile(join(result.buildDir, 'pool-worker.js'), 'utf8')).toBe(await readFile(join(root, 'lib', 'pool-worker.js'), 'utf8'));
    // The bundle runs, and the worker URL it computes names the copy.
    expect(await runBuilt()).toBe(`${pathToFileURL(join(result.buildDir, 'pool-worker.js')).href} command`);
    expect(await layout()).toEqual({ root: ['cli', 'dist', 'lib', 'package.json', 'tsconfig.json'], dist: [BUILD_RECORD, 'builds'], builds: 1 });
  });

  it('builds unchanged sources into the same directory, and keeps an earlier build for processes still using it', async () => {
    const first = await compileCli(root);
    const again = await compileCli(root);
    expect(again).toMatchObject({ buildDir: first.buildDir, created: false });
    await put('cli/command.ts', "export const name: string = 'changed';\n");
    const changed = await compileCli(root);
    expect(changed.buildDir).not.toBe(first.buildDir);
    expect(await runBuilt()).toContain(' changed');
    // A process started from the first build still finds its files.
    expect(execFileSync(process.execPath, [join(first.buildDir, 'main.js')], { encoding: 'utf8' })).toContain(' command');
    expect((await layout()).builds).toBe(2);
  });

  it('counts a build made current again as new: pruning keeps it', async () => {
    const first = await compileCli(root);
    await utimes(first.buildDir, new Date(1_000_000), new Date(1_000_000));
    for (let i = 0; i < 2; i++) {
      await put('cli/command.ts', `export const name: string = 'v${i}';\n`);
      await compileCli(root);
    }
    await put('cli/command.ts', "export const name: string = 'command';\n");
    expect(await compileCli(root)).toMatchObject({ buildDir: first.buildDir, created: false });
    await put('cli/command.ts', "export const name: string = 'after';\n");
    await compileCli(root);
    expect((await readdir(join(root, 'dist', 'builds'))).includes(basename(first.buildDir))).toBe(true);
  });

  it('keeps the three newest builds', async () => {
    const dirs: string[] = [];
    for (let i = 0; i < 5; i++) {
      await put('cli/command.ts', `export const name: string = 'v${i}';\n`);
      dirs.push((await compileCli(root)).buildDir);
      // Distinct modification times, newest last.
      await utimes(dirs[i] as string, new Date(1_000_000 * (i + 1)), new Date(1_000_000 * (i + 1)));
    }
    await compileCli(root);
    expect((await readdir(join(root, 'dist', 'builds'))).map((name) => join(root, 'dist', 'builds', name)).sort()).toEqual(dirs.slice(2).sort());
    expect(await runBuilt()).toContain(' v4');
  });

  it('ends several builds at once with one current build and nothing half-made', async () => {
    await compileCli(root);
    await put('cli/command.ts', "export const name: string = 'changed';\n");
    await Promise.all([compileCli(root), compileCli(root), compileCli(root)]);
    expect(await runBuilt()).toContain(' changed');
    expect(currentCompiledCli(root)).toBeDefined();
    expect(await layout()).toMatchObject({ dist: [BUILD_RECORD, 'builds'], builds: 2 });
  });

  it('refuses a worker file that imports a relative path, leaving the current build current', async () => {
    await compileCli(root);
    const before = await entry();
    await put('helper.js', 'export const helper = 1;\n');
    await put('lib/helper.js', 'export const helper = 1;\n');
    for (const text of ["import { helper } from './helper.js';\n", "export { helper } from '../helper.js';\n", "const m = await import('./helper.js');\n"]) {
      await put('lib/pool-worker.js', `/** @typedef {import('./types.ts').T} T */\n${text}`);
      await expect(compileCli(root), text).rejects.toThrow(/worker lib\/pool-worker\.js imports (lib\/)?helper\.js, which its copy/);
      expect(await entry()).toBe(before);
    }
    expect(await layout()).toMatchObject({ dist: [BUILD_RECORD, 'builds'], builds: 1 });
    // A type imported in a JSDoc comment is not an import.
    await put('lib/pool-worker.js', "/** @typedef {import('./types.ts').T} T */\nimport 'node:worker_threads';\n");
    await expect(compileCli(root)).resolves.toMatchObject({ created: true });
  });

  it('refuses two worker files of the same name', async () => {
    await put('cli/command.ts', "export const name: string = new URL('./pool-worker.js', import.meta.url).href;\n");
    await put('cli/pool-worker.js', "import 'node:worker_threads';\n");
    await expect(compileCli(root)).rejects.toThrow(/two worker files named pool-worker\.js/);
  });

  it('refuses an output whose worker URL names no copied file', async () => {
    // An escape the source scan does not read, which esbuild prints as the plain character.
    await put('lib/pool.ts', "export function workerUrl(): string {\n  return new URL('./other\\u002dworker.js', import.meta.url).href;\n}\n");
    await expect(compileCli(root)).rejects.toThrow(/starts a worker \.\/other-worker\.js that the build did not copy/);
    expect(currentCompiledCli(root)).toBeUndefined();
  });

  it('fails on a source that does not compile, naming it', async () => {
    await put('cli/command.ts', 'export const name: string = ;\n');
    await expect(compileCli(root)).rejects.toThrow(/command\.ts/);
    expect(currentCompiledCli(root)).toBeUndefined();
  });
});

describe('currentCompiledCli', () => {
  it('is the entry of a build made from the sources on disk', async () => {
    await compileCli(root);
    expect(currentCompiledCli(root)?.href).toBe(pathToFileURL(await entry()).href);
  });

  it('is undefined without a build', () => {
    expect(currentCompiledCli(root)).toBeUndefined();
  });

  it('is undefined once a source is touched, rewritten, resized or removed', async () => {
    await compileCli(root);
    const later = new Date((await stat(join(root, 'cli', 'command.ts'))).mtimeMs + 5_000);
    await utimes(join(root, 'cli', 'command.ts'), later, later);
    expect(currentCompiledCli(root)).toBeUndefined();

    await compileCli(root);
    await writeFile(join(root, 'lib', 'pool.ts'), `${await readFile(join(root, 'lib', 'pool.ts'), 'utf8')}// more\n`);
    expect(currentCompiledCli(root)).toBeUndefined();

    await compileCli(root);
    await rm(join(root, 'lib', 'pool-worker.js'));
    expect(currentCompiledCli(root)).toBeUndefined();
    await put('lib/pool-worker.js', "import 'node:worker_threads';\n");

    await compileCli(root);
    await writeFile(join(root, 'tsconfig.json'), '{ "compilerOptions": { "strict": false } }\n');
    expect(currentCompiledCli(root)).toBeUndefined();

    await compileCli(root);
    await rm(await entry());
    expect(currentCompiledCli(root)).toBeUndefined();
  });

  it('is undefined, not an error, when a recorded path cannot be stat\'ed', async () => {
    await compileCli(root);
    const path = join(root, 'dist', BUILD_RECORD);
    const record = JSON.parse(await readFile(path, 'utf8')) as { inputs: Record<string, unknown> };
    // A symbolic link to itself: stat fails with ELOOP, which throwIfNoEntry does not cover.
    await symlink('loop', join(root, 'loop'));
    for (const bad of ['package.json/below-a-file', 'loop/x']) {
      await writeFile(path, JSON.stringify({ ...record, inputs: { ...record.inputs, [bad]: [1, 1] } }));
      expect(currentCompiledCli(root), bad).toBeUndefined();
    }
  });

  it('is undefined for a record it cannot trust', async () => {
    await compileCli(root);
    const path = join(root, 'dist', BUILD_RECORD);
    const good = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
    const foreign = [
      'not json',
      '[]',
      JSON.stringify({ ...good, format: 1 }),
      JSON.stringify({ ...good, inputs: {} }),
      JSON.stringify({ ...good, entry: 7 }),
      JSON.stringify({ ...good, entry: '../../outside/main.js' }),
      JSON.stringify({ ...good, inputs: { 'cli/main.ts': 'x' } }),
    ];
    for (const bad of foreign) {
      await writeFile(path, bad);
      expect(currentCompiledCli(root), bad).toBeUndefined();
    }
    await writeFile(path, JSON.stringify(good));
    expect(currentCompiledCli(root)).toBeDefined();
  });
});
