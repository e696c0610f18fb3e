/**
 * The compiled CLI (ADR 0021): `compileCli` bundles a project's `cli/main.ts` into `dist/` with its
 * worker files beside it and a record of every source read; `currentCompiledCli` accepts that build
 * only while every recorded source is unchanged. Run on a small project of its own in a temporary
 * directory (the real CLI's build is exercised by the push-pull end-to-end test).
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('compileCli', () => {
  it('bundles the entry point, copies the worker files beside it and records every source', async () => {
    const result = await compileCli(root);
    expect(result.outDir).toBe(join(root, 'dist'));
    expect(result.workers).toEqual([join('lib', 'pool-worker.js')]);
    const record = JSON.parse(await readFile(join(root, 'dist', BUILD_RECORD), 'utf8')) as { entry: string; inputs: Record<string, [number, number]> };
    expect(record.entry).toBe('main.js');
    expect(Object.keys(record.inputs).sort()).toEqual(['cli/command.ts', 'cli/main.ts', 'lib/pool-worker.js', 'lib/pool.ts']);
    const info = await stat(join(root, 'lib', 'pool.ts'));
    expect(record.inputs['lib/pool.ts']).toEqual([info.size, info.mtimeMs]);
    expect(await readFile(join(root, 'dist', 'pool-worker.js'), 'utf8')).toBe(await readFile(join(root, 'lib', 'pool-worker.js'), 'utf8'));
    // The bundle runs, and the worker URL it computes names the copy.
    const out = execFileSync(process.execPath, [join(root, 'dist', 'main.js')], { encoding: 'utf8' }).trim();
    expect(out).toBe(`${pathToFileURL(join(root, 'dist', 'pool-worker.js')).href} command`);
    expect((await readdir(root)).sort()).toEqual(['cli', 'dist', 'lib']);
  });

  it('replaces an earlier build, also when several builds run at once', async () => {
    await compileCli(root);
    await put('cli/command.ts', "export const name: string = 'changed';\n");
    await Promise.all([compileCli(root), compileCli(root), compileCli(root)]);
    expect(execFileSync(process.execPath, [join(root, 'dist', 'main.js')], { encoding: 'utf8' })).toContain(' changed');
    expect(currentCompiledCli(root)).toBeDefined();
    expect((await readdir(root)).sort()).toEqual(['cli', 'dist', 'lib']);
  });

  it('refuses a worker file that imports a relative path, leaving the earlier build in place', async () => {
    await compileCli(root);
    const before = await readFile(join(root, 'dist', 'main.js'), 'utf8');
    await put('lib/pool-worker.js', "import { helper } from './helper.js';\nhelper();\n");
    await expect(compileCli(root)).rejects.toThrow(/worker lib\/pool-worker\.js imports a relative path/);
    expect(await readFile(join(root, 'dist', 'main.js'), 'utf8')).toBe(before);
    expect((await readdir(root)).sort()).toEqual(['cli', 'dist', 'lib']);
  });

  it('refuses two worker files of the same name', async () => {
    await put('cli/command.ts', "export const name: string = new URL('./pool-worker.js', import.meta.url).href;\n");
    await put('cli/pool-worker.js', "import 'node:worker_threads';\n");
    await expect(compileCli(root)).rejects.toThrow(/two worker files named pool-worker\.js/);
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
    expect(currentCompiledCli(root)?.href).toBe(pathToFileURL(join(root, 'dist', 'main.js')).href);
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
  });

  it('is undefined for a record it cannot trust', async () => {
    await compileCli(root);
    const path = join(root, 'dist', BUILD_RECORD);
    const good = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
    for (const bad of ['not json', JSON.stringify({ ...good, format: 2 }), JSON.stringify({ ...good, inputs: {} }), JSON.stringify({ ...good, entry: 7 }), JSON.stringify({ ...good, inputs: { 'cli/main.ts': 'x' } }), '[]']) {
      await writeFile(path, bad);
      expect(currentCompiledCli(root), bad).toBeUndefined();
    }
    await writeFile(path, JSON.stringify(good));
    expect(currentCompiledCli(root)).toBeDefined();
  });
});
