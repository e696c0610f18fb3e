/**
 * Serves the event log to API consumers (ListEvents long-polls, WatchEvents streams): reads the
 * events a caller may see, and waits for new ones. Waiters wake at once when this process commits
 * (the registry's `onCommit` calls `notify`), and a single shared poll of the log head — running only
 * while someone waits — catches events other processes wrote to a shared PostgreSQL.
 */
import type { Kysely } from 'kysely';
import type { Schema } from '../db/schema.ts';
import { ALL_TENANTS, type TenantScope } from '../registry/scope.ts';
import { headSequence, readEvents, type StoredEvent } from './event-log.ts';

/** A slice of the log as one caller sees it. */
export interface VisibleEvents {
  /** Visible events after the requested sequence, in order. */
  readonly events: StoredEvent[];
  /**
   * Every event up to this sequence has been considered: a caller resumes after it. Equals the last
   * returned event's sequence, or the head when fewer than `limit` events were visible.
   */
  readonly scannedTo: number;
  /** The newest committed sequence when read. */
  readonly head: number;
}

/** The feed. */
export interface EventFeed {
  /** Events after `after` visible in `scope` (at most `limit`). */
  read(scope: TenantScope, after: number, limit: number): Promise<VisibleEvents>;
  /**
   * Resolves with the head once it passes `after`, or with the current head when `timeoutMs` passes
   * or `signal` aborts (never rejects for those).
   */
  waitForHead(after: number, options: { readonly timeoutMs: number; readonly signal?: AbortSignal }): Promise<number>;
  /** Tells waiters that events up to `head` committed. */
  notify(head: number): void;
  /** Releases every waiter and stops polling. */
  close(): void;
}

/** Options of the feed. */
export interface EventFeedOptions {
  readonly db: Kysely<Schema>;
  /** Fallback poll of the head while anyone waits (default 250 ms). */
  readonly pollMs?: number;
  /** Where poll failures are logged. */
  readonly log?: (line: string) => void;
}

interface Waiter {
  readonly after: number;
  readonly wake: () => void;
}

/** Creates the feed. */
export function createEventFeed(options: EventFeedOptions): EventFeed {
  const { db } = options;
  const waiters = new Set<Waiter>();
  let knownHead = 0;
  let poller: NodeJS.Timeout | undefined;
  let polling = false;
  let closed = false;

  function notify(head: number): void {
    if (head > knownHead) knownHead = head;
    for (const w of waiters) if (knownHead > w.after) w.wake();
  }

  function startPolling(): void {
    if (poller !== undefined || closed) return;
    poller = setInterval(() => {
      if (polling) return;
      polling = true;
      headSequence(db)
        .then(notify, (err: unknown) => options.log?.(`event feed: polling the log head failed: ${String(err)}`))
        .finally(() => {
          polling = false;
        });
    }, options.pollMs ?? 250);
    poller.unref();
  }

  function stopPollingIfIdle(): void {
    if (waiters.size === 0 && poller !== undefined) {
      clearInterval(poller);
      poller = undefined;
    }
  }

  return {
    async read(scope, after, limit) {
      const head = await headSequence(db);
      notify(head);
      const events = await readEvents(db, { after, limit, upTo: head, ...(scope === ALL_TENANTS ? {} : { tenant: scope }) });
      const scannedTo = events.length < limit ? Math.max(head, after) : events[events.length - 1]!.sequence;
      return { events, scannedTo, head };
    },

    async waitForHead(after, { timeoutMs, signal }) {
      const head = await headSequence(db);
      notify(head);
      if (knownHead > after || closed || signal?.aborted === true || timeoutMs <= 0) return knownHead;
      await new Promise<void>((resolve) => {
        const waiter: Waiter = { after, wake: done };
        const timer = setTimeout(done, timeoutMs);
        signal?.addEventListener('abort', done, { once: true });
        waiters.add(waiter);
        startPolling();
        function done(): void {
          clearTimeout(timer);
          signal?.removeEventListener('abort', done);
          waiters.delete(waiter);
          stopPollingIfIdle();
          resolve();
        }
      });
      return knownHead;
    },

    notify,

    close() {
      closed = true;
      for (const w of [...waiters]) w.wake();
      stopPollingIfIdle();
    },
  };
}
