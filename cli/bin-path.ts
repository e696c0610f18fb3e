/**
 * The path of `bin/artifactstore.js` when this process was started through the `artifactstore` command
 * (it records itself on `globalThis` before importing the CLI, ADR 0021), else undefined.
 */
export function binPath(): string | undefined {
  const bin = (globalThis as { __artifactstoreBin?: unknown }).__artifactstoreBin;
  return typeof bin === 'string' ? bin : undefined;
}
