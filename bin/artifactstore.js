#!/usr/bin/env node
// The `artifactstore` command: runs the compiled CLI (dist/, built by `npm run build`, which `npm ci`
// runs) when it is current with the sources, else registers tsx and runs the TypeScript entry point
// (ADR 0021). Either way the same code runs; the compiled one starts ~0.3 s sooner.
// ARTIFACTSTORE_CLI=compiled refuses to run anything but a current build; =source always runs the sources.
import { join } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { currentCompiledCli } from './compiled-cli.js';

const choice = process.env['ARTIFACTSTORE_CLI'] ?? 'auto';
if (choice !== 'auto' && choice !== 'compiled' && choice !== 'source') {
  process.stderr.write(`artifactstore: ARTIFACTSTORE_CLI must be auto, compiled or source (got ${JSON.stringify(choice)})\n`);
  process.exit(2);
}
// Read by cli/main.ts (run the CLI when imported from here) and by `start` (how to launch itself).
globalThis.__artifactstoreBin = fileURLToPath(import.meta.url);
const compiled = choice === 'source' ? undefined : currentCompiledCli(join(import.meta.dirname, '..'));
if (compiled !== undefined) {
  // Stack traces name the sources, as under tsx (the maps are read when a trace is formatted: ~no start-up cost).
  process.setSourceMapsEnabled(true);
  await import(compiled.href);
} else if (choice === 'compiled') {
  process.stderr.write('artifactstore: ARTIFACTSTORE_CLI=compiled, but there is no compiled CLI matching the sources: run npm run build\n');
  process.exit(2);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../cli/main.ts');
}
