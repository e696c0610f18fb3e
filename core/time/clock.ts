/**
 * Time is a parameter: everything that stamps or compares time reads an injected Clock, so tests move
 * time instead of sleeping and replays never depend on when they run.
 */

/** A source of the current time. */
export interface Clock {
  /** The current instant. */
  now(): Date;
}

/** The wall clock. The only place in the code base allowed to read the system time. */
export function createSystemClock(): Clock {
  // eslint-disable-next-line no-restricted-syntax -- this is the one sanctioned reader of system time.
  return { now: () => new Date(Date.now()) };
}

/** A clock tests can set and advance. */
export interface ManualClock extends Clock {
  /** Sets the current instant. */
  set(instant: Date): void;
  /** Moves time forward by `ms` milliseconds. */
  advance(ms: number): void;
}

/** Creates a manual clock starting at `start`. */
export function createManualClock(start: Date): ManualClock {
  let current = start.getTime();
  return {
    now: () => new Date(current),
    set: (instant) => {
      current = instant.getTime();
    },
    advance: (ms) => {
      current += ms;
    },
  };
}

/**
 * Formats an instant the one way timestamps are written into events and manifests:
 * RFC 3339, UTC, millisecond precision, fixed width (`2026-11-23T10:34:00.000Z`).
 */
export function formatTimestamp(instant: Date): string {
  const t = instant.getTime();
  if (!Number.isFinite(t)) throw new RangeError('invalid date');
  const s = instant.toISOString();
  if (s.length !== 24) throw new RangeError(`timestamp outside years 0000-9999: ${s}`);
  return s;
}

/** Parses a timestamp written by `formatTimestamp`, rejecting every other spelling. */
export function parseTimestamp(text: string): Date {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(text)) throw new RangeError(`not a canonical timestamp: ${JSON.stringify(text)}`);
  const d = new Date(text);
  if (formatTimestamp(d) !== text) throw new RangeError(`not a valid timestamp: ${JSON.stringify(text)}`);
  return d;
}
