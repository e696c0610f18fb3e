/**
 * `watchLauncher`: a server launched by `artifactstore start` closes once its launcher is gone; one run
 * by hand (no launcher named) never does.
 */
import { describe, expect, it } from 'vitest';
import { LAUNCHER_PID_ENV, watchLauncher } from '../../cli/commands/launcher-watch.ts';

describe('watchLauncher', () => {
  it('does nothing when no launcher is named, or the name is not a process id', async () => {
    const calls: number[] = [];
    const stops = [{}, { [LAUNCHER_PID_ENV]: '' }, { [LAUNCHER_PID_ENV]: 'abc' }, { [LAUNCHER_PID_ENV]: '1' }, { [LAUNCHER_PID_ENV]: '-5' }].map((env) => watchLauncher(env, (pid) => calls.push(pid), 5));
    await new Promise((resolve) => setTimeout(resolve, 50));
    for (const stop of stops) stop();
    expect(calls).toEqual([]);
  });

  it('keeps quiet while the parent is the launcher', async () => {
    const calls: number[] = [];
    const stop = watchLauncher({ [LAUNCHER_PID_ENV]: String(process.ppid) }, (pid) => calls.push(pid), 5);
    await new Promise((resolve) => setTimeout(resolve, 50));
    stop();
    expect(calls).toEqual([]);
  });

  it('reports once, with the launcher it expected, when the parent is another process', async () => {
    const calls: number[] = [];
    const gone = process.ppid + 100_000;
    const stop = watchLauncher({ [LAUNCHER_PID_ENV]: String(gone) }, (pid) => calls.push(pid), 5);
    await new Promise((resolve) => setTimeout(resolve, 50));
    stop();
    expect(calls).toEqual([gone]);
  });
});
