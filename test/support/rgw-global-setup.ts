/**
 * vitest globalSetup: gives the run a directory where the first test file that needs Ceph RGW starts
 * ONE cluster (`test/support/rgw.ts`), and stops that cluster after the last file. Costs nothing when
 * no S3 test runs: the cluster starts on first use, not here.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Run-wide directory of the on-demand RGW (see test/support/rgw.ts). */
    rgwRunDir: string;
  }
}

/** Provides the run directory; the returned teardown stops the cluster if one was started. */
export default function setup(project: TestProject): () => void {
  const runDir = mkdtempSync(join(tmpdir(), 'artifactstore-rgw-run-'));
  project.provide('rgwRunDir', runDir);
  return () => {
    const clusterDir = join(runDir, 'ceph');
    if (existsSync(join(clusterDir, 'pids'))) execFileSync(join(import.meta.dirname, '..', '..', 'scripts', 'ceph-rgw.sh'), ['stop', clusterDir], { stdio: 'inherit' });
    rmSync(runDir, { recursive: true, force: true });
  };
}
