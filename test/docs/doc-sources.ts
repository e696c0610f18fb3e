/**
 * What the doc check reads: the documentation files, the command mentions and runnable blocks in
 * them, and the `ARTIFACTSTORE_*` variables named in docs and in code.
 *
 * Marking (HTML comments, invisible when rendered):
 * - `<!-- doc-check: run -->` right before a fenced `sh` block: the block is run, in document order
 *   with the document's other marked blocks, as one bash script (`set -euo pipefail`);
 * - `<!-- doc-check: run-postgres -->`: the same, only when a PostgreSQL server is configured for
 *   tests (`ARTIFACTSTORE_TEST_DATABASE_URL`);
 * - `<!-- doc-check: service -->` anywhere in a document: its script expects a running service
 *   (the check starts one); without it the script starts its own.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

/** The repository root. */
export const ROOT = join(import.meta.dirname, '..', '..');

/** One documentation file. */
export interface DocFile {
  /** Path relative to the repository root. */
  readonly path: string;
  readonly text: string;
}

/** README.md and every Markdown file below docs/. */
export function readDocs(): DocFile[] {
  const files = ['README.md'];
  const walk = (dir: string): void => {
    for (const name of readdirSync(join(ROOT, dir)).sort()) {
      const rel = `${dir}/${name}`;
      if (statSync(join(ROOT, rel)).isDirectory()) walk(rel);
      else if (name.endsWith('.md')) files.push(rel);
    }
  };
  walk('docs');
  return files.map((path) => ({ path, text: readFileSync(join(ROOT, path), 'utf8') }));
}

/** One `artifactstore <command> …` mention. */
export interface CommandMention {
  readonly doc: string;
  readonly line: number;
  readonly command: string;
  readonly flags: readonly string[];
}

/**
 * Every `artifactstore <command>` mention with the `--flags` that follow it on the same line, up to a
 * backtick, a table cell border or the next `artifactstore` mention.
 */
export function commandMentions(doc: DocFile): CommandMention[] {
  const out: CommandMention[] = [];
  doc.text.split('\n').forEach((lineText, i) => {
    const parts = lineText.split(/(?<![\w./-])artifactstore[ \t]+(?=[a-z])/).slice(1);
    for (const part of parts) {
      const command = /^[a-z][a-z-]*/.exec(part)?.[0];
      if (command === undefined) continue;
      const rest = part.slice(command.length).split(/`|\s\|\s|\|$/)[0] ?? '';
      const flags = [...rest.matchAll(/(?<![\w-])--[a-z][a-z-]*/g)].map((m) => m[0]);
      out.push({ doc: doc.path, line: i + 1, command, flags });
    }
  });
  return out;
}

/** Marked runnable blocks of a document, in order. */
export interface RunnableBlocks {
  readonly needsService: boolean;
  readonly blocks: readonly { readonly postgres: boolean; readonly script: string; readonly line: number }[];
}

/** Finds the marked blocks (see the module comment). */
export function runnableBlocks(doc: DocFile): RunnableBlocks {
  const blocks: { postgres: boolean; script: string; line: number }[] = [];
  const re = /<!-- doc-check: (run|run-postgres) -->\s*\n```(?:sh|bash)\n([\s\S]*?)\n```/g;
  for (const m of doc.text.matchAll(re)) {
    blocks.push({ postgres: m[1] === 'run-postgres', script: m[2] ?? '', line: doc.text.slice(0, m.index).split('\n').length + 1 });
  }
  return { needsService: doc.text.includes('<!-- doc-check: service -->'), blocks };
}

/** Every `toml` fenced block of a document. */
export function tomlBlocks(doc: DocFile): string[] {
  return [...doc.text.matchAll(/```toml\n([\s\S]*?)\n```/g)].map((m) => m[1] ?? '');
}

const VARIABLE = /\bARTIFACTSTORE_[A-Z0-9_]*[A-Z0-9]\b/g;

/** `ARTIFACTSTORE_*` names in a text. */
export function variablesIn(text: string): Set<string> {
  return new Set(text.match(VARIABLE) ?? []);
}

/** Where code reads environment variables: sources, tests, scripts, CI. */
const CODE_ROOTS = ['control-plane', 'data-plane', 'cli', 'core', 'bin', 'test', 'scripts', 'bench', '.ci', 'vitest.config.ts', 'package.json'];

/** `ARTIFACTSTORE_*` names used in code, each with one file that uses it (docs and this check excluded). */
export function variablesInCode(): Map<string, string> {
  const found = new Map<string, string>();
  const visit = (rel: string): void => {
    const abs = join(ROOT, rel);
    let info;
    try {
      info = statSync(abs);
    } catch {
      return;
    }
    if (info.isDirectory()) {
      for (const name of readdirSync(abs).sort()) if (name !== 'node_modules' && name !== 'fixtures') visit(`${rel}/${name}`);
      return;
    }
    if (!/\.(ts|js|sh|json)$|^\.ci\//.test(rel) || rel.startsWith('test/docs/')) return;
    for (const name of variablesIn(readFileSync(abs, 'utf8'))) if (!found.has(name)) found.set(name, relative(ROOT, abs));
  };
  for (const root of CODE_ROOTS) visit(root);
  return found;
}
