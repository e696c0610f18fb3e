/**
 * hash-worker.js is plain JavaScript (ADR 0002), so the project's `tsc` does not see it. This test
 * type-checks it (JSDoc annotations, `// @ts-check`) against hash-protocol.ts, so the two sides of the
 * worker protocol cannot drift apart silently.
 */
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { expect, it } from 'vitest';

it('hash-worker.js type-checks against hash-protocol.ts', () => {
  const entry = fileURLToPath(new URL('../../core/identity/hash-worker.js', import.meta.url));
  const program = ts.createProgram([entry], {
    allowJs: true,
    checkJs: true,
    noEmit: true,
    strict: true,
    exactOptionalPropertyTypes: true,
    noUncheckedIndexedAccess: true,
    allowImportingTsExtensions: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2023,
    lib: ['lib.es2023.d.ts'],
    types: ['node'],
    skipLibCheck: true,
  });
  const problems = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
  expect(problems).toEqual([]);
});
