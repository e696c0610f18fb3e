#!/usr/bin/env node
// The `artifactstore` command: registers tsx, then runs the TypeScript CLI entry point.
import { register } from 'tsx/esm/api';

register();
globalThis.__artifactstoreBin = true;
await import('../cli/main.ts');
