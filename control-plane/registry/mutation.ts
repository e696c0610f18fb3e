/**
 * The one way the registry writes: a transaction in which each emitted event is appended to the log
 * and projected into the views at once, followed (after commit) by the `onCommit` notification.
 */
import type { Kysely, Transaction } from 'kysely';
import type { Clock } from '../../core/time/clock.ts';
import type { Schema } from '../db/schema.ts';
import { appendEvent, type AppendEventInput, type StoredEvent } from '../events/event-log.ts';
import { applyEvent } from '../events/projector.ts';

/** Appends and projects one event inside the running mutation. */
export type Emit = (input: AppendEventInput) => Promise<StoredEvent>;

/** Runs `body` in one transaction with an `emit` bound to it; resolves with its result after commit. */
export type Mutate = <T>(body: (trx: Transaction<Schema>, emit: Emit) => Promise<T>) => Promise<T>;

/** Creates the mutation runner; `onCommit` is called with the committed events (not on rollback). */
export function createMutate(db: Kysely<Schema>, clock: Clock, onCommit?: (events: readonly StoredEvent[]) => void): Mutate {
  return async (body) => {
    const events: StoredEvent[] = [];
    const result = await db.transaction().execute(async (trx) =>
      body(trx, async (input) => {
        const event = await appendEvent(trx, clock, input);
        await applyEvent(trx, event);
        events.push(event);
        return event;
      }),
    );
    if (events.length > 0) onCommit?.(events);
    return result;
  };
}
