/**
 * The live data planes, in memory: registered through ControlService, kept alive by heartbeats, and
 * dead once `ttlMs` passes without one (read from the injected clock, so tests move time instead of
 * sleeping). Only live data planes receive work (307 redirects, backend choice). The table is not
 * persisted: after a control-plane restart, data planes learn from Heartbeat `known: false` that
 * they must register again.
 */
import { randomUUID } from 'node:crypto';
import type { Clock } from '../../core/time/clock.ts';

/** A registered data plane. */
export interface DataPlane {
  readonly id: string;
  /** Base URL clients reach it at, without a trailing slash. */
  readonly url: string;
  /** The backend it writes new files to. */
  readonly backendId: string;
  /** Last register or heartbeat, in clock milliseconds. */
  readonly lastSeenMs: number;
}

/** The table. */
export interface DataPlaneTable {
  /** Adds or refreshes a data plane; keeps `id` when given (re-registration), else assigns one. */
  register(input: { readonly url: string; readonly backendId: string; readonly id?: string }): DataPlane;
  /** Refreshes a live data plane; false when it is unknown or already dead (it must register again). */
  heartbeat(id: string): boolean;
  /** Removes a data plane that is shutting down; false when it was not in the table. */
  deregister(id: string): boolean;
  /** One data plane if it is live. */
  get(id: string): DataPlane | undefined;
  /** Every live data plane, oldest registration first. */
  live(): DataPlane[];
  /** A live data plane to send work to (round robin), or undefined when none is live. */
  pick(): DataPlane | undefined;
  /** How often data planes should heartbeat. */
  readonly heartbeatIntervalMs: number;
}

/** Creates the table. */
export function createDataPlaneTable(options: { readonly clock: Clock; readonly ttlMs: number }): DataPlaneTable {
  const { clock, ttlMs } = options;
  const planes = new Map<string, DataPlane>();
  let next = 0;

  function isLive(p: DataPlane): boolean {
    return clock.now().getTime() - p.lastSeenMs <= ttlMs;
  }

  function live(): DataPlane[] {
    for (const [id, p] of planes) if (!isLive(p)) planes.delete(id);
    return [...planes.values()];
  }

  return {
    heartbeatIntervalMs: Math.max(100, Math.floor(ttlMs / 3)),
    register(input) {
      const id = input.id !== undefined && input.id !== '' ? input.id : `dp_${randomUUID()}`;
      const plane: DataPlane = { id, url: input.url.replace(/\/+$/, ''), backendId: input.backendId, lastSeenMs: clock.now().getTime() };
      planes.set(id, plane);
      return plane;
    },
    heartbeat(id) {
      const p = planes.get(id);
      if (p === undefined || !isLive(p)) {
        planes.delete(id);
        return false;
      }
      planes.set(id, { ...p, lastSeenMs: clock.now().getTime() });
      return true;
    },
    deregister(id) {
      return planes.delete(id);
    },
    get(id) {
      const p = planes.get(id);
      return p !== undefined && isLive(p) ? p : undefined;
    },
    live,
    pick() {
      const all = live();
      if (all.length === 0) return undefined;
      return all[next++ % all.length];
    },
  };
}
