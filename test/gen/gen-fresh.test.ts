/**
 * gen/ is committed; this fails when it no longer matches what `npm run gen` produces from proto/.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => relative(dir, join(e.parentPath, e.name))).sort();
}

it('gen/ matches buf generate output for proto/', async () => {
  const out = await mkdtemp(join(tmpdir(), 'as-gen-'));
  try {
    const bin = join(root, 'node_modules', '.bin');
    await run(join(bin, 'buf'), ['generate', '-o', out], { cwd: root, env: { ...process.env, PATH: `${bin}:${process.env['PATH'] ?? ''}` } });
    const fresh = await listFiles(join(out, 'gen'));
    const committed = await listFiles(join(root, 'gen'));
    expect(committed, 'files in gen/ (run `npm run gen`)').toEqual(fresh);
    for (const file of fresh) {
      const [a, b] = await Promise.all([readFile(join(out, 'gen', file), 'utf8'), readFile(join(root, 'gen', file), 'utf8')]);
      expect(b, `gen/${file} is stale: run \`npm run gen\``).toBe(a);
    }
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});
