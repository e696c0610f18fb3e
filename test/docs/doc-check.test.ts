/**
 * The docs cannot drift from the code:
 * - every `artifactstore <command> --flag` named in README.md or docs/ exists in that command's --help;
 * - every `npm run <script>` / `npm start` / `npm test` named exists in package.json;
 * - every ARTIFACTSTORE_* variable the code reads is documented, and every documented one exists;
 * - every TOML example parses with the operator-config parser;
 * - the blocks marked `<!-- doc-check: run -->` run, in order, against a real service in a temporary
 *   directory (see doc-sources.ts), with the documented ports replaced by free ones.
 * The README's two commands are exercised elsewhere: `.ci/run` runs `npm ci && npm test`, and every
 * end-to-end test starts the service the way `npm start` does (checked below).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CommandIo } from '../../cli/command-io.ts';
import { runCli } from '../../cli/main.ts';
import { parseOperatorConfig } from '../../control-plane/config/operator-config.ts';
import { TEST_DATABASE_URL } from '../db/test-database.ts';
import { freePort, startService, type ServiceUnderTest } from '../e2e/process-harness.ts';
import { commandMentions, readDocs, ROOT, runnableBlocks, tomlBlocks, variablesIn, variablesInCode } from './doc-sources.ts';

const docs = readDocs();

async function helpOf(command: string): Promise<string | undefined> {
  const lines: string[] = [];
  const io: CommandIo = { out: (l) => lines.push(l), err: () => undefined, progress: () => undefined, env: {} };
  const code = await runCli(command === '' ? ['--help'] : [command, '--help'], io);
  return code === 0 ? lines.join('\n') : undefined;
}

describe('docs name only what exists', () => {
  it('every artifactstore command and flag is in the CLI --help', async () => {
    const global = (await helpOf(''))!;
    const problems: string[] = [];
    const mentions = docs.flatMap(commandMentions);
    expect(mentions.length).toBeGreaterThan(40);
    for (const m of mentions) {
      const help = await helpOf(m.command);
      if (help === undefined) {
        problems.push(`${m.doc}:${m.line}: unknown command 'artifactstore ${m.command}'`);
        continue;
      }
      for (const flag of m.flags) if (!new RegExp(`${flag}(?![a-z-])`).test(help) && !new RegExp(`${flag}(?![a-z-])`).test(global)) problems.push(`${m.doc}:${m.line}: 'artifactstore ${m.command}' has no ${flag} in its --help`);
    }
    expect(problems).toEqual([]);
  });

  it('every npm script named exists, and npm start runs artifactstore start', async () => {
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    const problems: string[] = [];
    for (const doc of docs) {
      for (const m of doc.text.matchAll(/\bnpm (?:run ([a-z:-]+)|(start|test)\b)/g)) {
        const script = m[1] ?? m[2]!;
        if (pkg.scripts[script] === undefined) problems.push(`${doc.path}: npm script '${script}' does not exist`);
      }
    }
    expect(problems).toEqual([]);
    expect(pkg.scripts['start']).toBe('node bin/artifactstore.js start');
    const readme = docs.find((d) => d.path === 'README.md')!.text;
    expect(readme.indexOf('npm ci && npm start')).toBeGreaterThan(-1);
    expect(readme.indexOf('npm ci && npm test')).toBeGreaterThan(-1);
  });

  it('every ARTIFACTSTORE_* variable in the code is documented, and every documented one is used', () => {
    const documented = new Set(docs.flatMap((d) => [...variablesIn(d.text)]));
    const used = variablesInCode();
    expect([...used].filter(([name]) => !documented.has(name)).map(([name, file]) => `${name} (read in ${file}) is not documented`)).toEqual([]);
    expect([...documented].filter((name) => !used.has(name)).map((name) => `${name} is documented but no code reads it`)).toEqual([]);
    expect(used.size).toBeGreaterThanOrEqual(16);
  });

  it('every TOML example is a valid operator configuration', () => {
    const examples = docs.flatMap((d) => tomlBlocks(d).map((text) => ({ doc: d.path, text })));
    expect(examples.length).toBeGreaterThan(0);
    for (const { doc, text } of examples) expect(() => parseOperatorConfig(text, doc), doc).not.toThrow();
  });
});

/** Runs `script` with bash in `cwd`; resolves with the exit code and everything printed. */
function runBash(script: string, cwd: string, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', script], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      reject(new Error(`doc script still running after ${timeoutMs} ms; killed.\n${output}`));
    }, timeoutMs);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, output });
    });
  });
}

describe('runnable doc blocks', () => {
  let work: string;
  let shimDir: string;
  const databases: string[] = [];

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'as-doc-check-'));
    shimDir = join(work, 'bin');
    await mkdir(shimDir);
    await writeFile(join(shimDir, 'artifactstore'), `#!/bin/sh\nexec "${process.execPath}" "${join(ROOT, 'bin', 'artifactstore.js')}" "$@"\n`);
    await chmod(join(shimDir, 'artifactstore'), 0o755);
  });

  afterAll(async () => {
    if (databases.length > 0 && TEST_DATABASE_URL !== undefined) {
      const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await admin.connect();
      for (const name of databases) await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    }
    await rm(work, { recursive: true, force: true });
  });

  const runnable = docs.map((d) => ({ doc: d, ...runnableBlocks(d) })).filter((d) => d.blocks.length > 0);

  it('some documents have runnable blocks', () => {
    expect(runnable.map((d) => d.doc.path)).toEqual(expect.arrayContaining(['docs/OPERATOR.md', 'docs/guide-board.md']));
  });

  for (const { doc, needsService, blocks } of runnable) {
    it(`${doc.path} runs as written`, async () => {
      const cwd = await mkdtemp(join(work, 'run-'));
      const base: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ARTIFACTSTORE_')));
      base['PATH'] = `${shimDir}:${process.env['PATH'] ?? ''}`;
      let service: ServiceUnderTest | undefined;
      let controlPort: number;
      let dataPort: number;
      if (needsService) {
        service = await startService();
        controlPort = Number(new URL(service.controlUrl).port);
        dataPort = Number(new URL(service.dataUrl).port);
        Object.assign(base, { ARTIFACTSTORE_DATA_DIR: service.dataDir, ARTIFACTSTORE_URL: service.controlUrl });
      } else {
        [controlPort, dataPort] = [await freePort(), await freePort()];
        base['ARTIFACTSTORE_URL'] = `http://127.0.0.1:${controlPort}`;
      }
      const dbName = `as_doc_${randomBytes(4).toString('hex')}`;
      const selected = blocks.filter((b) => !b.postgres || TEST_DATABASE_URL !== undefined);
      if (selected.some((b) => b.postgres)) databases.push(dbName);
      const body = selected
        .map((b) => `# ${doc.path}:${b.line}\n${b.script}`)
        .join('\n')
        .replaceAll('127.0.0.1:8000', `127.0.0.1:${controlPort}`)
        .replaceAll('127.0.0.1:8001', `127.0.0.1:${dataPort}`)
        .replace(/\bartifactstore start\b/g, `artifactstore start --control-plane-listen 127.0.0.1:${controlPort} --data-plane-listen 127.0.0.1:${dataPort}`)
        .replace(/^DB_NAME=artifactstore$/m, `DB_NAME=${dbName}`);
      const script = `set -euo pipefail -x\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n${body}\n`;
      try {
        const { code, output } = await runBash(script, cwd, base, 240_000);
        expect(code, `${doc.path} failed:\n${output}`).toBe(0);
      } finally {
        await service?.stop();
      }
    }, 300_000);
  }
});
