/**
 * Stopping `artifactstore start`: Ctrl-C (SIGINT to the terminal's foreground process group, which holds
 * the launcher alone) stops the data plane first, which deregisters while the control plane still
 * answers, then the control plane; both close cleanly and the embedded database's lock is released, so
 * the next start is not refused. A launcher killed outright leaves no server behind: each notices it is
 * gone and closes by itself.
 */
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { startService } from './process-harness.ts';

/** Resolves once `check` holds, polling every 100 ms; rejects with `what` after `timeoutMs`. */
async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`still not so after ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const exists = (path: string): Promise<boolean> => access(path).then(() => true, () => false);
const answers = (url: string): Promise<boolean> => fetch(`${url}/healthz`).then((res) => res.body?.cancel().then(() => true) ?? true, () => false);

it('stops the data plane before the control plane on Ctrl-C and releases the embedded database lock', async () => {
  const service = await startService({}, { processGroup: true });
  try {
    expect(await exists(join(service.dataDir, 'pglite.lock'))).toBe(true); // held while running
    await service.interrupt();
    expect(await exists(join(service.dataDir, 'pglite.lock'))).toBe(false);
    const output = service.output();
    expect(output).toContain('received SIGINT, stopping the data plane, then the control plane');
    // One signal each, from the launcher, in order: no server got the terminal's SIGINT as well.
    expect(output).toContain('data plane: received SIGTERM, shutting down');
    expect(output).toContain('control plane: received SIGTERM, shutting down');
    expect(output.indexOf('data plane: received SIGTERM')).toBeLessThan(output.indexOf('control plane: received SIGTERM'));
    expect(output).not.toContain('still shutting down');
    // The data plane said goodbye to a control plane that still answered.
    expect(output).not.toContain('could not deregister');
  } finally {
    await service.stop();
  }
}, 180_000);

it('leaves no server behind when the launcher is killed outright', async () => {
  const service = await startService({}, { processGroup: true });
  try {
    await service.killLauncher();
    await eventually(async () => !(await exists(join(service.dataDir, 'pglite.lock'))), 'the control plane released the embedded database lock');
    await eventually(async () => !(await answers(service.dataUrl)) && !(await answers(service.controlUrl)), 'both servers stopped listening');
  } finally {
    await service.stop();
  }
}, 180_000);
