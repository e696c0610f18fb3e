/**
 * The append-only event log: the source of truth from which every view is derived.
 *
 * Sequence allocation: `appendEvent` locks the singleton `event_head` row with an UPDATE inside the
 * caller's transaction and holds it until that transaction ends. A second writer blocks on the row
 * until the first commits or rolls back, so sequences are gapless (a rollback also rolls back the
 * counter) and become visible in sequence order, which lets a consumer tail `sequence > n` without
 * ever skipping an event. A BIGSERIAL would not: its values are handed out before commit.
 *
 * Nothing here updates or deletes an event, and the database refuses it too (a trigger).
 */
import { sql, type Kysely, type Transaction } from 'kysely';
import { decodeCanonical, encodeCanonical, type CborValue } from '../../core/cbor/canonical.ts';
import { formatTimestamp, type Clock } from '../../core/time/clock.ts';
import type { Schema } from '../db/schema.ts';
import { computeEventHash } from './event-hash.ts';
import { decodedForm } from './decoded-form.ts';
import { packageIdIn, type EventType } from './event-types.ts';

/** An event as stored and as delivered to consumers. */
export interface StoredEvent {
  /** Position in the log, from 1, gapless. */
  readonly sequence: number;
  /** Versioned type name. */
  readonly type: string;
  /** Canonical timestamp (`2026-11-23T10:34:00.000Z`); never earlier than the previous event's. */
  readonly occurredAt: string;
  /** Package the event concerns, if any (derived from the payload). */
  readonly packageId: string | null;
  /** Canonical CBOR payload bytes, exactly as hashed. */
  readonly payload: Uint8Array;
  /** Hash of the previous event. */
  readonly prevHash: string;
  /** This event's chain hash. */
  readonly hash: string;
}

/** What a writer supplies; the log assigns sequence, time and hashes. */
export interface AppendEventInput {
  readonly type: EventType;
  /**
   * Payload value, encoded here as canonical CBOR; or already-canonical bytes (e.g. a manifest), with
   * the package they concern when the writer knows it (saves decoding large bytes to find it), and
   * the value they are the canonical encoding of when the writer has it (saves decoding them for the
   * projector). The writer vouches for both: they are not checked against the bytes.
   */
  readonly payload: CborValue | CanonicalPayload;
}

/** A payload given as its canonical bytes (see `AppendEventInput`). */
export interface CanonicalPayload {
  readonly canonicalBytes: Uint8Array;
  readonly packageId?: string;
  /** A value whose canonical encoding is exactly `canonicalBytes`. */
  readonly value?: CborValue;
}

/**
 * An event just appended, with its payload as the projector reads it: exactly the value
 * `decodeCanonical(event.payload)` returns, built from the writer's value where there is one.
 */
export interface AppendedEvent {
  readonly event: StoredEvent;
  readonly payload: CborValue;
}

function isCanonicalPayload(payload: AppendEventInput['payload']): payload is CanonicalPayload {
  return payload !== null && typeof payload === 'object' && 'canonicalBytes' in payload && payload.canonicalBytes instanceof Uint8Array;
}

/**
 * Decodes `bytes` as replay will once they are stored: from a plain Uint8Array (the encoder may return a
 * Buffer, and the decoder would then return byte strings as Buffer views).
 */
function decodeAsStored(bytes: Uint8Array): CborValue {
  return decodeCanonical(bytes.constructor === Uint8Array ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
}

/** The bytes stored for `input`, its decoded payload and the package it concerns. */
function preparePayload(input: AppendEventInput): { bytes: Uint8Array; payload: CborValue; packageId: string | null } {
  const given = input.payload;
  if (isCanonicalPayload(given)) {
    const payload = (given.value === undefined ? undefined : decodedForm(given.value)) ?? decodeAsStored(given.canonicalBytes);
    return { bytes: given.canonicalBytes, payload, packageId: given.packageId ?? packageIdIn(payload) };
  }
  const bytes = encodeCanonical(given);
  const payload = decodedForm(given) ?? decodeAsStored(bytes);
  return { bytes, payload, packageId: packageIdIn(payload) };
}

/**
 * Appends one event inside `trx` and returns it. Blocks while another transaction holds the log head.
 * The event becomes visible to readers when `trx` commits, and vanishes with it on rollback.
 */
export async function appendEvent(trx: Transaction<Schema>, clock: Clock, input: AppendEventInput): Promise<StoredEvent> {
  const [appended] = await appendEvents(trx, clock, [input]);
  if (appended === undefined) throw new Error('appendEvents returned no event');
  return appended.event;
}

/** Rows per multi-row INSERT (7 parameters each, far below PostgreSQL's 65,535). */
const INSERT_CHUNK = 500;

/**
 * Appends `inputs` as consecutive events inside `trx`, in order, with one head update and multi-row
 * inserts: the same events, sequences and hashes as appending them one by one, at a fraction of the
 * statements. They share one timestamp (they commit together). Same locking as `appendEvent`.
 * Returns each event with its decoded payload, for the projector (`applyAppended`).
 */
export async function appendEvents(trx: Transaction<Schema>, clock: Clock, inputs: readonly AppendEventInput[]): Promise<AppendedEvent[]> {
  if (inputs.length === 0) return [];
  const prepared = inputs.map(preparePayload);
  const head = await trx
    .updateTable('event_head')
    .set((eb) => ({ last_sequence: eb('last_sequence', '+', inputs.length) }))
    .where('id', '=', 1)
    .returning(['last_sequence', 'last_hash', 'last_occurred_at'])
    .executeTakeFirstOrThrow();
  // Timestamps never go backwards along the log, even if the wall clock does.
  const now = clock.now();
  const occurred = head.last_occurred_at !== null && head.last_occurred_at.getTime() > now.getTime() ? head.last_occurred_at : now;
  const occurredAt = formatTimestamp(occurred);
  const first = head.last_sequence - inputs.length + 1;
  let prevHash = head.last_hash;
  const appended: AppendedEvent[] = inputs.map((input, i) => {
    const { bytes, payload, packageId } = prepared[i] as ReturnType<typeof preparePayload>;
    const draft: StoredEvent = { sequence: first + i, type: input.type, occurredAt, packageId, payload: bytes, prevHash, hash: '' };
    const event = { ...draft, hash: computeEventHash(draft) };
    prevHash = event.hash;
    return { event, payload };
  });
  for (let i = 0; i < appended.length; i += INSERT_CHUNK) {
    await trx
      .insertInto('events')
      .values(
        appended.slice(i, i + INSERT_CHUNK).map(({ event }) => ({
          sequence: event.sequence,
          event_type: event.type,
          occurred_at: event.occurredAt,
          package_id: event.packageId,
          // As hex text decoded by the database: both drivers then convert natively (PGlite's own bytea
          // parameter encoding runs byte by byte in JavaScript, ~0.5 s for a 10,000-file manifest).
          payload: sql<Uint8Array>`decode(${Buffer.from(event.payload.buffer, event.payload.byteOffset, event.payload.byteLength).toString('hex')}, 'hex')`,
          prev_hash: event.prevHash,
          hash: event.hash,
        })),
      )
      .execute();
  }
  await trx.updateTable('event_head').set({ last_hash: prevHash, last_occurred_at: occurredAt }).where('id', '=', 1).execute();
  return appended;
}

/** Options for reading a slice of the log. */
export interface ReadEventsOptions {
  /** Return events with sequence strictly greater than this (0 = from the start). */
  readonly after: number;
  /** At most this many events (default 500). */
  readonly limit?: number;
  /** Only events about this package. */
  readonly packageId?: string;
  /** Only events about packages of this tenant (events about no package are left out too). */
  readonly tenant?: string;
  /** Only events with sequence at most this. */
  readonly upTo?: number;
  /** Only events whose type starts with this (e.g. `v1.retention.`). */
  readonly typePrefix?: string;
}

/** Reads committed events in sequence order. */
export async function readEvents(db: Kysely<Schema>, options: ReadEventsOptions): Promise<StoredEvent[]> {
  let query = db
    .selectFrom('events')
    .selectAll()
    .where('sequence', '>', options.after)
    .orderBy('sequence')
    .limit(options.limit ?? 500);
  if (options.packageId !== undefined) query = query.where('package_id', '=', options.packageId);
  if (options.upTo !== undefined) query = query.where('sequence', '<=', options.upTo);
  // Event type names are [a-z0-9._] only; `_` is a LIKE wildcard, escaped with PostgreSQL's default `\`.
  if (options.typePrefix !== undefined) {
    if (!/^[a-z0-9._]*$/.test(options.typePrefix)) throw new RangeError(`not an event type prefix: ${JSON.stringify(options.typePrefix)}`);
    query = query.where('event_type', 'like', `${options.typePrefix.replaceAll('_', '\\_')}%`);
  }
  const tenant = options.tenant;
  if (tenant !== undefined) query = query.where('package_id', 'in', (eb) => eb.selectFrom('packages').select('package_id').where('tenant', '=', tenant));
  const rows = await query.execute();
  return rows.map((row) => ({
    sequence: row.sequence,
    type: row.event_type,
    occurredAt: formatTimestamp(row.occurred_at),
    packageId: row.package_id,
    payload: new Uint8Array(row.payload),
    prevHash: row.prev_hash,
    hash: row.hash,
  }));
}

/** The sequence of the newest committed event (0 when the log is empty). */
export async function headSequence(db: Kysely<Schema>): Promise<number> {
  const row = await db.selectFrom('event_head').select('last_sequence').where('id', '=', 1).executeTakeFirstOrThrow();
  return row.last_sequence;
}

/** Options for tailing the log. */
export interface TailEventsOptions {
  /** Start after this sequence. */
  readonly after: number;
  /** Poll interval while caught up (default 100 ms). */
  readonly pollMs?: number;
  /** Stops the tail; the iterator then returns. */
  readonly signal?: AbortSignal;
  /** Batch size per read (default 500). */
  readonly batch?: number;
}

/**
 * Yields every committed event after `after`, in order, exactly once, then waits for more until the
 * signal aborts. Safe with concurrent writers because sequences become visible in order.
 */
export async function* tailEvents(db: Kysely<Schema>, options: TailEventsOptions): AsyncGenerator<StoredEvent> {
  let after = options.after;
  const signal = options.signal;
  while (signal?.aborted !== true) {
    const batch = await readEvents(db, { after, limit: options.batch ?? 500 });
    for (const event of batch) {
      yield event;
      after = event.sequence;
    }
    if (batch.length === 0) await sleep(options.pollMs ?? 100, signal);
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
