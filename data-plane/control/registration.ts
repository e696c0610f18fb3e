/**
 * Keeps a data plane registered with the control plane: register once at start (failing the start if
 * the control plane cannot be reached), then heartbeat at the interval the control plane asks for.
 * When a heartbeat says the control plane no longer knows us (it restarted, or we missed too many),
 * register again under the same id. When the control plane is briefly unreachable, keep trying with
 * backoff; the data plane keeps serving whatever it can meanwhile (reads of already-resolved requests,
 * nothing else needs us to be registered).
 */
import type { ControlClient } from './control-client.ts';

/** Options of {@link startRegistration}. */
export interface RegistrationOptions {
  readonly control: ControlClient;
  /** URL clients reach this data plane at. */
  readonly advertiseUrl: string;
  /** Backend new files are written to. */
  readonly backendId: string;
  readonly log: (line: string) => void;
}

/** A running registration loop. */
export interface Registration {
  /** Id the control plane gave this data plane (stable across re-registrations). */
  readonly dataPlaneId: string;
  /**
   * Stops heartbeating and asks the control plane to forget this data plane now, so it sends no more
   * work here (a control plane that cannot be reached forgets it when its heartbeats are missed); safe
   * to call twice.
   */
  stop(): Promise<void>;
}

const MIN_INTERVAL_MS = 100;
const DEREGISTER_TIMEOUT_MS = 2_000;
const MAX_BACKOFF_MS = 5_000;

/** Registers (rejecting when the control plane refuses or is unreachable) and starts heartbeating. */
export async function startRegistration(options: RegistrationOptions): Promise<Registration> {
  const { control, log } = options;
  const stopper = new AbortController();
  const first = await control.registerDataPlane({ advertiseUrl: options.advertiseUrl, backendId: options.backendId }, { signal: stopper.signal });
  const dataPlaneId = first.dataPlaneId;
  let intervalMs = Math.max(MIN_INTERVAL_MS, first.heartbeatIntervalMs || 5_000);
  let timer: NodeJS.Timeout | undefined;
  let failures = 0;
  let stopping: Promise<void> | undefined;

  const schedule = (delay: number): void => {
    if (stopper.signal.aborted) return;
    timer = setTimeout(() => void beat(), delay);
    // Heartbeats alone must not keep a process alive that has otherwise stopped.
    timer.unref();
  };

  async function beat(): Promise<void> {
    try {
      const { known } = await control.heartbeat({ dataPlaneId }, { signal: stopper.signal });
      if (!known) {
        const again = await control.registerDataPlane({ advertiseUrl: options.advertiseUrl, backendId: options.backendId, dataPlaneId }, { signal: stopper.signal });
        intervalMs = Math.max(MIN_INTERVAL_MS, again.heartbeatIntervalMs || intervalMs);
        log(`data plane ${dataPlaneId}: re-registered with the control plane`);
      }
      if (failures > 0) log(`data plane ${dataPlaneId}: control plane reachable again`);
      failures = 0;
      schedule(intervalMs);
    } catch (error) {
      if (stopper.signal.aborted) return;
      failures++;
      if (failures === 1) log(`data plane ${dataPlaneId}: heartbeat failed (${error instanceof Error ? error.message : String(error)}); retrying`);
      schedule(Math.min(MAX_BACKOFF_MS, MIN_INTERVAL_MS * 2 ** Math.min(failures, 10), intervalMs));
    }
  }

  schedule(intervalMs);
  return {
    dataPlaneId,
    stop: () =>
      (stopping ??= (async () => {
        stopper.abort();
        clearTimeout(timer);
        try {
          await control.deregisterDataPlane({ dataPlaneId }, { signal: AbortSignal.timeout(DEREGISTER_TIMEOUT_MS) });
        } catch (error) {
          log(`data plane ${dataPlaneId}: could not deregister (${error instanceof Error ? error.message : String(error)}); the control plane drops it when its heartbeats stop`);
        }
      })()),
  };
}
