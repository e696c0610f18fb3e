#!/usr/bin/env node
// The `artifactstore` command: runs the compiled CLI (dist/, built by `npm run build`, which `npm ci`
// runs) when it is current with the sources, else registers tsx and runs the TypeScript entry point
// (ADR 0021). Either way the same code runs; the compiled one starts ~0.4 s sooner.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { currentCompiledCli } from './compiled-cli.js';

// Read by cli/main.ts (run the CLI when imported from here) and by `start` (how to launch itself).
globalThis.__artifactstoreBin = fileURLToPath(import.meta.url);
const compiled = currentCompiledCli(join(import.meta.dirname, '..'));
if (compiled !== undefined) {
  await import(compiled.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../cli/main.ts');
}
