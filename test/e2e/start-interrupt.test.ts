/**
 * Ctrl-C on `artifactstore start` (SIGINT to the whole process group, then `start`'s own SIGTERM to its
 * children): both servers close cleanly, and the embedded database's lock is released, so the next
 * start is not refused.
 */
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { startService } from './process-harness.ts';

it('releases the embedded database lock when the whole process group is interrupted', async () => {
  const service = await startService({}, { processGroup: true });
  try {
    await access(join(service.dataDir, 'pglite.lock')); // held while running
    await service.interrupt();
    await expect(access(join(service.dataDir, 'pglite.lock'))).rejects.toThrow();
    expect(service.output()).toContain('shutting down');
  } finally {
    await service.stop();
  }
}, 180_000);
