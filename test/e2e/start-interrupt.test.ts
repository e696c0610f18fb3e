/**
 * Stopping `artifactstore start`: Ctrl-C (SIGINT to the terminal's foreground process group, which holds
 * the launcher alone) stops the data plane first, which deregisters while the control plane still
 * answers, then the control plane; both close cleanly and the embedded database's lock is released, so
 * the next start is not refused. A signal repeated at once (`npm start` passes each Ctrl-C on) is the
 * same request; a data plane that does not exit holds up the control plane's stop for a bounded time and is
 * then killed. A launcher killed outright leaves no server behind: each notices it is gone and closes
 * by itself.
 */
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { pollUntil, serversGone, startService, type ServiceUnderTest } from './process-harness.ts';
import { DATA_PLANE_STOP_WAIT_MS } from '../../cli/commands/start.ts';

/** Resolves once `check` holds; rejects naming `what` after `timeoutMs`. */
async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  if (!(await pollUntil(check, timeoutMs))) throw new Error(`still not so after ${timeoutMs} ms: ${what}`);
}

const exists = (path: string): Promise<boolean> => access(path).then(() => true, () => false);
const answers = (url: string): Promise<boolean> => fetch(`${url}/healthz`).then((res) => res.body?.cancel().then(() => true) ?? true, () => false);

/** Runs `body` against a service started in a process group of its own, and stops it whatever happens. */
async function withService(body: (service: ServiceUnderTest) => Promise<void>): Promise<void> {
  const service = await startService({}, { processGroup: true });
  try {
    await body(service);
  } finally {
    await service.stop();
  }
}

/** One signal each, from the launcher, in order, and a data plane that said goodbye to a control plane that still answered. */
function expectOrderedStop(output: string): void {
  expect(output).toContain('data plane: received SIGTERM, shutting down');
  expect(output).toContain('control plane: received SIGTERM, shutting down');
  expect(output.indexOf('data plane: received SIGTERM')).toBeLessThan(output.indexOf('control plane: received SIGTERM'));
  expect(output).not.toContain('still shutting down');
  expect(output).not.toContain('could not deregister');
}

it('stops the data plane before the control plane on Ctrl-C and releases the embedded database lock', () =>
  withService(async (service) => {
    expect(await exists(join(service.dataDir, 'pglite.lock'))).toBe(true); // held while running
    await service.interrupt();
    expect(await service.launcherExit()).toBe(0);
    expect(await serversGone(service.serverPids(), 5_000)).toBe(true);
    expect(await exists(join(service.dataDir, 'pglite.lock'))).toBe(false);
    const output = service.output();
    expect(output).toContain('received SIGINT, stopping the data plane, then the control plane');
    // No server got the terminal's SIGINT as well: only the launcher's SIGTERM.
    expectOrderedStop(output);
  }), 180_000);

it('leaves no server behind when the launcher is killed outright', () =>
  withService(async (service) => {
    expect(service.serverPids()).toHaveLength(2);
    await service.killLauncher();
    await eventually(async () => !(await exists(join(service.dataDir, 'pglite.lock'))), 'the control plane released the embedded database lock');
    await eventually(async () => !(await answers(service.dataUrl)) && !(await answers(service.controlUrl)), 'both servers stopped listening');
    expect(await serversGone(service.serverPids(), 30_000)).toBe(true);
  }), 180_000);

it('takes a signal repeated at once as the same request, as npm start passes Ctrl-C on', () =>
  withService(async (service) => {
    await service.interrupt({ repeatAfterMs: 50 });
    expect(await service.launcherExit()).toBe(0);
    expect(service.output()).toContain('received SIGINT again within a second: the same request');
    expect(service.output()).not.toMatch(/again, stopping|a third time/);
    expectOrderedStop(service.output());
  }), 180_000);

it('takes a second Ctrl-C passed on by npm as one more request: both stopped at once, not killed', () =>
  withService(async (service) => {
    const [, dataPlane] = service.serverPids();
    // A data plane that cannot act on its SIGTERM keeps the stop going long enough to press again.
    process.kill(dataPlane as number, 'SIGSTOP');
    // Ctrl-C, and npm passing it on: the repeat comes once start has taken the first (signals do not queue).
    const pressTwice = async (taken: string): Promise<void> => {
      const before = service.output().split(taken).length;
      service.pressCtrlC();
      await eventually(() => Promise.resolve(service.output().split(taken).length > before), `start reported '${taken}'`);
      service.pressCtrlC();
    };
    await pressTwice('received SIGINT, stopping');
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await pressTwice('received SIGINT again, stopping');
    process.kill(dataPlane as number, 'SIGCONT');
    expect(await service.launcherExit()).toBe(0);
    const output = service.output();
    expect(output.match(/again, stopping/g)).toHaveLength(1);
    expect(output).not.toContain('a third time');
    expect(output).toContain('control plane: received SIGTERM, shutting down');
    expect(await serversGone(service.serverPids(), 5_000)).toBe(true);
    expect(await exists(join(service.dataDir, 'pglite.lock'))).toBe(false);
  }), 180_000);

it('stops the control plane after a bounded wait for a data plane that does not exit, then kills the data plane', () =>
  withService(async (service) => {
    const [, dataPlane] = service.serverPids();
    expect(dataPlane).toBeDefined();
    process.kill(dataPlane as number, 'SIGSTOP'); // hung: it cannot act on the SIGTERM
    const started = performance.now();
    await service.interrupt();
    const took = performance.now() - started;
    expect(await service.launcherExit()).toBe(0);
    expect(took).toBeGreaterThanOrEqual(2 * DATA_PLANE_STOP_WAIT_MS - 500);
    const output = service.output();
    expect(output).toContain('stopping the control plane anyway');
    expect(output).toContain('control plane: received SIGTERM, shutting down');
    expect(output).toContain('killing it (SIGKILL)');
    expect(await exists(join(service.dataDir, 'pglite.lock'))).toBe(false);
    expect(await serversGone(service.serverPids(), 5_000)).toBe(true);
  }), 180_000);
