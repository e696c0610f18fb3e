/**
 * The servers `artifactstore start` launches run in sessions (and process groups) of their own, so that
 * a terminal's Ctrl-C reaches only the launcher, which then stops the data plane before the control plane
 * (the data plane deregisters while the control plane still answers). A session of its own also means
 * no SIGHUP and no Ctrl-C once the launcher is gone; so each server watches its parent instead, and
 * closes (as on SIGTERM) once the launcher has exited and it was re-parented.
 */

/** Set by `artifactstore start` in its children's environment: the launcher's process id. */
export const LAUNCHER_PID_ENV = 'ARTIFACTSTORE_LAUNCHER_PID';

/** How often a launched server looks at its parent. */
export const LAUNCHER_WATCH_INTERVAL_MS = 1000;

/** The launcher's process id `env` names, or undefined (none, or not a process id other than init's). */
export function launcherOf(env: NodeJS.ProcessEnv): number | undefined {
  const text = env[LAUNCHER_PID_ENV];
  const pid = text === undefined || text === '' ? NaN : Number(text);
  return Number.isSafeInteger(pid) && pid > 1 ? pid : undefined;
}

/**
 * Calls `onGone` once, when this process's parent is no longer the launcher named in `env` (it exited
 * and this process was re-parented). Does nothing when `env` names no launcher (a server run by hand
 * or by a supervisor stops on signals only). Returns a function that stops watching.
 */
export function watchLauncher(env: NodeJS.ProcessEnv, onGone: (launcherPid: number) => void, intervalMs = LAUNCHER_WATCH_INTERVAL_MS): () => void {
  const launcherPid = launcherOf(env);
  if (launcherPid === undefined) return () => undefined;
  let timer: NodeJS.Timeout | undefined;
  const look = (): void => {
    if (process.ppid === launcherPid) return;
    clearInterval(timer);
    timer = undefined;
    onGone(launcherPid);
  };
  timer = setInterval(look, intervalMs);
  // Never the reason the process stays alive: the server's listening socket is.
  timer.unref();
  look();
  return () => clearInterval(timer);
}
