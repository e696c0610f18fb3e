/**
 * Identifiers: a type prefix plus a ULID, so ids sort by creation time (the ULID's first 48 bits are
 * the millisecond timestamp from the injected clock) and are unique across processes (80 random bits,
 * monotonic within one millisecond in one process).
 */
import { monotonicFactory } from 'ulid';
import type { Clock } from '../../core/time/clock.ts';

/** Kinds of ids and their prefixes. */
export type IdKind = 'pkg' | 'file' | 'hold' | 'upload' | 'completion';

/** Makes new ids. */
export interface IdGenerator {
  /** A new id of `kind`, e.g. `pkg_01JD3Y8K5Q0W3M9V7C2B6N4R8T`. */
  next(kind: IdKind): string;
}

/** Creates an id generator reading time from `clock`. */
export function createIdGenerator(clock: Clock): IdGenerator {
  const ulid = monotonicFactory();
  return { next: (kind) => `${kind}_${ulid(clock.now().getTime())}` };
}

/** True when `id` has the shape of an id of `kind`. */
export function isId(kind: IdKind, id: string): boolean {
  return new RegExp(`^${kind}_[0-9A-HJKMNP-TV-Z]{26}$`).test(id);
}
