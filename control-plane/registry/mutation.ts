/**
 * The one way the registry writes: a transaction in which each emitted event is appended to the log
 * and projected into the views at once, followed (after commit) by the `onCommit` notification.
 */
import type { Kysely, Transaction } from 'kysely';
import type { Clock } from '../../core/time/clock.ts';
import type { Schema } from '../db/schema.ts';
import { appendEvents, type AppendEventInput, type StoredEvent } from '../events/event-log.ts';
import { applyAppended } from '../events/projector.ts';
import { enterWriter } from '../events/replay-lock.ts';

/** Appends and projects one event inside the running mutation. */
export type Emit = (input: AppendEventInput) => Promise<StoredEvent>;

/** Appends and projects several consecutive events at once (multi-row statements). */
export type EmitAll = (inputs: readonly AppendEventInput[]) => Promise<StoredEvent[]>;

/** Runs `body` in one transaction with `emit`/`emitAll` bound to it; resolves with its result after commit. */
export type Mutate = <T>(body: (trx: Transaction<Schema>, emit: Emit, emitAll: EmitAll) => Promise<T>) => Promise<T>;

/** Options of {@link createMutate}. */
export interface MutateOptions {
  /** Called with the committed events (not on rollback). */
  readonly onCommit?: ((events: readonly StoredEvent[]) => void) | undefined;
  /**
   * Run one mutation at a time and let the event loop turn before each. For embedded PGlite: it runs
   * queries synchronously on this thread, so transactions queued for its one connection would
   * otherwise run back to back in a single turn, holding every finished caller's response until the
   * whole queue has drained. (On PostgreSQL, writers serialise on the log head inside the database.)
   */
  readonly exclusive?: boolean | undefined;
}

/** Creates the mutation runner. */
export function createMutate(db: Kysely<Schema>, clock: Clock, options: MutateOptions = {}): Mutate {
  const { onCommit, exclusive = false } = options;
  let queue: Promise<unknown> = Promise.resolve();
  const run: Mutate = async (body) => {
    const events: StoredEvent[] = [];
    const result = await db.transaction().execute(async (trx) => {
      await enterWriter(trx); // a replay running on the same database goes first or waits (replay-lock.ts)
      // The projector gets the payload values just encoded, not a decoding of their bytes.
      const emitAll: EmitAll = async (inputs) => {
        const appended = await appendEvents(trx, clock, inputs);
        await applyAppended(trx, appended);
        const stored = appended.map((a) => a.event);
        events.push(...stored);
        return stored;
      };
      const emit: Emit = async (input) => {
        const [event] = await emitAll([input]);
        if (event === undefined) throw new Error('appendEvents returned no event');
        return event;
      };
      return body(trx, emit, emitAll);
    });
    if (events.length > 0) onCommit?.(events);
    return result;
  };
  if (!exclusive) return run;
  return (body) => {
    const turn = queue.then(() => new Promise<void>((resolve) => setImmediate(resolve))).then(() => run(body));
    queue = turn.catch(() => undefined);
    return turn;
  };
}
