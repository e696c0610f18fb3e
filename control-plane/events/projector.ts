/**
 * The projector: turns one event into changes of the materialised views. The registry calls it right
 * after appending events, in the same transaction, with the payload values it has just encoded
 * (`applyAppended`); replay calls the very same handlers for every event in order, with payloads
 * decoded from the stored bytes (`applyEvents`). Every value written comes from the event (payload,
 * sequence, occurred_at), never from the clock or the current environment, so live writes and
 * replays produce identical rows.
 */
import type { ExpressionBuilder, Transaction, UpdateObject } from 'kysely';
import { blake3Hex } from '../../core/identity/blake3-oneshot.ts';
import { decodeCanonical, type CborValue } from '../../core/cbor/canonical.ts';
import type { Schema } from '../db/schema.ts';
import type { AppendedEvent, StoredEvent } from './event-log.ts';
import { asMap, isEventType, type CborMap, type EventType } from './event-types.ts';
import { fileAdded, insertFiles, integer, text, type FileAdded } from './project-files.ts';

type Handler = (trx: Transaction<Schema>, event: StoredEvent, payload: CborMap) => Promise<void>;

function nullableText(map: CborMap, key: string): string | null {
  const v = map[key];
  if (v === null || v === undefined) return null;
  if (typeof v !== 'string') throw new TypeError(`event field ${key} must be text or null`);
  return v;
}

/** JSON text of a CBOR map whose values are JSON-compatible (metadata). */
function jsonText(value: CborValue): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (v instanceof Uint8Array) throw new TypeError('metadata cannot hold byte strings');
    return v;
  });
}

async function touchPackage(trx: Transaction<Schema>, event: StoredEvent, packageId: string): Promise<void> {
  await trx.updateTable('packages').set({ updated_at: event.occurredAt, last_sequence: event.sequence }).where('package_id', '=', packageId).execute();
}

function nullableInteger(map: CborMap, key: string): number | null {
  const v = map[key];
  if (v === null || v === undefined) return null;
  return integer(map, key);
}

function bool(map: CborMap, key: string): boolean {
  const v = map[key];
  if (typeof v !== 'boolean') throw new TypeError(`event field ${key} must be a boolean`);
  return v;
}

async function closeUpload(trx: Transaction<Schema>, event: StoredEvent, p: CborMap, status: 'completed' | 'aborted' | 'expired'): Promise<void> {
  const uploadId = text(p, 'upload_id');
  const row = await trx
    .updateTable('upload_sessions')
    .set({ status, updated_at: event.occurredAt, completion_id: null, ...(status === 'completed' ? { file_id: text(p, 'file_id') } : {}) })
    .where('upload_id', '=', uploadId)
    .where('status', 'in', ['open', 'completing'])
    .returning('upload_id')
    .executeTakeFirst();
  if (row === undefined) throw new Error(`event ${event.sequence}: upload ${uploadId} is not open`);
}

const handlers: Record<EventType, Handler> = {
  /** payload: { package_id, tenant, producer, subject, retention_class, metadata } */
  'v1.package.created': async (trx, event, p) => {
    await trx
      .insertInto('packages')
      .values({
        package_id: text(p, 'package_id'),
        tenant: text(p, 'tenant'),
        producer: text(p, 'producer'),
        subject: text(p, 'subject'),
        retention_class: text(p, 'retention_class'),
        status: 'created',
        metadata: jsonText(asMap(p['metadata'], 'metadata')),
        manifest_digest: null,
        file_count: 0,
        total_bytes: 0,
        created_at: event.occurredAt,
        updated_at: event.occurredAt,
        finalized_at: null,
        last_sequence: event.sequence,
      })
      .execute();
  },

  /** payload: { package_id, retention_class, expires_at: timestamp | null } */
  'v1.retention.default_applied': async (trx, event, p) => {
    const packageId = text(p, 'package_id');
    await trx
      .insertInto('retention_state')
      .values({
        package_id: packageId,
        retention_class: text(p, 'retention_class'),
        expires_at: nullableText(p, 'expires_at'),
        active_holds: 0,
        deletion_eligible: false,
        eligible_since: null,
        updated_at: event.occurredAt,
      })
      .execute();
    await touchPackage(trx, event, packageId);
  },

  /**
   * payload: { package_id, file_id, relative_path, size, media_type, digests: { blake3, sha256 },
   *            storage: { backend_id, storage_key }, replaces_file_id: text | null }
   */
  'v1.file.added': async (trx, event, p) => {
    const added = fileAdded(event, p);
    let countDelta = 1;
    let bytesDelta = added.file.size;
    if (added.replaces !== null) {
      const old = await trx.deleteFrom('files').where('file_id', '=', added.replaces).where('package_id', '=', added.packageId).returning('size').executeTakeFirst();
      if (old === undefined) throw new Error(`event ${event.sequence}: replaced file ${added.replaces} not found`);
      countDelta = 0;
      bytesDelta = added.file.size - old.size;
    }
    await insertFiles(trx, [added]);
    await trx
      .updateTable('packages')
      .set((eb) => ({
        status: 'uploading',
        file_count: eb('file_count', '+', countDelta),
        total_bytes: eb('total_bytes', '+', bytesDelta),
        updated_at: event.occurredAt,
        last_sequence: event.sequence,
      }))
      .where('package_id', '=', added.packageId)
      .execute();
  },

  /** payload: the package's canonical CBOR manifest (its `package.package_id` names the package). */
  'v1.package.finalized': async (trx, event, p) => {
    const pkg = asMap(p['package'], 'package');
    const packageId = text(pkg, 'package_id');
    await trx
      .updateTable('packages')
      .set({
        status: 'finalized',
        manifest_digest: `blake3:${blake3Hex(event.payload)}`,
        // The manifest's own finalized_at, so the view and the manifest can never disagree.
        finalized_at: text(pkg, 'finalized_at'),
        updated_at: event.occurredAt,
        last_sequence: event.sequence,
      })
      .where('package_id', '=', packageId)
      .execute();
  },

  /**
   * payload: { upload_id, package_id, relative_path, media_type, expected_size: int | null,
   *            expected_sha256: text | null, expected_blake3: text | null, replace, staging_key,
   *            backend_id, data_plane_id: text | null, expires_at }
   */
  'v1.upload.created': async (trx, event, p) => {
    await trx
      .insertInto('upload_sessions')
      .values({
        upload_id: text(p, 'upload_id'),
        package_id: text(p, 'package_id'),
        relative_path: text(p, 'relative_path'),
        expected_size: nullableInteger(p, 'expected_size'),
        expected_blake3: nullableText(p, 'expected_blake3'),
        expected_sha256: nullableText(p, 'expected_sha256'),
        media_type: text(p, 'media_type'),
        replace: bool(p, 'replace'),
        status: 'open',
        staging_key: text(p, 'staging_key'),
        data_plane_id: nullableText(p, 'data_plane_id'),
        backend_id: text(p, 'backend_id'),
        created_at: event.occurredAt,
        updated_at: event.occurredAt,
        expires_at: text(p, 'expires_at'),
      })
      .execute();
  },

  /** payload: { upload_id, package_id, completion_id } (a completion began, or took over: no more chunks). */
  'v1.upload.completing': async (trx, event, p) => {
    const uploadId = text(p, 'upload_id');
    const row = await trx
      .updateTable('upload_sessions')
      .set({ status: 'completing', completion_id: text(p, 'completion_id'), updated_at: event.occurredAt })
      .where('upload_id', '=', uploadId)
      .where('status', 'in', ['open', 'completing'])
      .returning('upload_id')
      .executeTakeFirst();
    if (row === undefined) throw new Error(`event ${event.sequence}: upload ${uploadId} is not open`);
  },

  /** payload: { upload_id, package_id, completion_id, reason } (that completion failed: open again). */
  'v1.upload.completion_failed': async (trx, event, p) => {
    const uploadId = text(p, 'upload_id');
    const row = await trx
      .updateTable('upload_sessions')
      .set({ status: 'open', completion_id: null, updated_at: event.occurredAt })
      .where('upload_id', '=', uploadId)
      .where('status', '=', 'completing')
      .where('completion_id', '=', text(p, 'completion_id'))
      .returning('upload_id')
      .executeTakeFirst();
    if (row === undefined) throw new Error(`event ${event.sequence}: upload ${uploadId} is not completing under ${text(p, 'completion_id')}`);
  },

  /** payload: { upload_id, package_id, file_id } (the file recorded for it, in the same transaction since v1.upload.completing). */
  'v1.upload.completed': (trx, event, p) => closeUpload(trx, event, p, 'completed'),

  /** payload: { upload_id, package_id } */
  'v1.upload.aborted': (trx, event, p) => closeUpload(trx, event, p, 'aborted'),

  /** payload: { upload_id, package_id, expires_at } (recorded at or after that instant). */
  'v1.upload.expired': (trx, event, p) => closeUpload(trx, event, p, 'expired'),

  /** payload: { package_id, previous_expires_at, expires_at, reason, actor } */
  'v1.retention.extended': async (trx, event, p) => {
    const packageId = text(p, 'package_id');
    await updateRetention(trx, event, packageId, () => ({ expires_at: text(p, 'expires_at') }));
  },

  /** payload: { package_id, hold_id, reason, actor } (applied at the event's occurred_at). */
  'v1.retention.hold_applied': async (trx, event, p) => {
    const packageId = text(p, 'package_id');
    await trx
      .insertInto('holds')
      .values({ hold_id: text(p, 'hold_id'), package_id: packageId, reason: text(p, 'reason'), actor: text(p, 'actor'), applied_at: event.occurredAt, released_at: null, released_by: null, release_reason: null })
      .execute();
    await updateRetention(trx, event, packageId, (eb) => ({ active_holds: eb('active_holds', '+', 1) }));
  },

  /** payload: { package_id, hold_id, reason, actor } (released at the event's occurred_at). */
  'v1.retention.hold_released': async (trx, event, p) => {
    const packageId = text(p, 'package_id');
    const holdId = text(p, 'hold_id');
    const row = await trx
      .updateTable('holds')
      .set({ released_at: event.occurredAt, released_by: text(p, 'actor'), release_reason: text(p, 'reason') })
      .where('hold_id', '=', holdId)
      .where('package_id', '=', packageId)
      .where('released_at', 'is', null)
      .returning('hold_id')
      .executeTakeFirst();
    if (row === undefined) throw new Error(`event ${event.sequence}: hold ${holdId} is not active on ${packageId}`);
    await updateRetention(trx, event, packageId, (eb) => ({ active_holds: eb('active_holds', '-', 1) }));
  },

  /** payload: { package_id, expires_at, as_of } (eligible since the event's occurred_at). */
  'v1.retention.deletion_eligible': async (trx, event, p) => {
    await updateRetention(trx, event, text(p, 'package_id'), () => ({ deletion_eligible: true, eligible_since: event.occurredAt }));
  },

  /** payload: { package_id, cause: "hold_applied" | "extended", hold_id: text | null } */
  'v1.retention.deletion_ineligible': async (trx, event, p) => {
    await updateRetention(trx, event, text(p, 'package_id'), () => ({ deletion_eligible: false, eligible_since: null }));
  },

  /** payload: { content_address, backend_id, storage_key, size } (re-read; size and both digests matched). */
  'v1.storage.location_verified': (trx, event, p) => setLocationStatus(trx, event, p, { status: 'verified', verified_at: event.occurredAt }),

  /**
   * payload: { content_address, backend_id, storage_key, reason: "missing" | "size-mismatch" |
   *            "digest-mismatch", detail } (`verified_at` keeps the last successful check).
   */
  'v1.storage.location_failed': (trx, event, p) => setLocationStatus(trx, event, p, { status: 'failed' }),
};

/** Column changes of a retention row, built from the update's expression builder. */
type RetentionChanges = (eb: ExpressionBuilder<Schema, 'retention_state'>) => UpdateObject<Schema, 'retention_state'>;

/** Sets the status of one storage location, which must exist. */
async function setLocationStatus(trx: Transaction<Schema>, event: StoredEvent, p: CborMap, changes: UpdateObject<Schema, 'storage_locations'>): Promise<void> {
  const contentAddress = text(p, 'content_address');
  const backendId = text(p, 'backend_id');
  const row = await trx.updateTable('storage_locations').set(changes).where('content_address', '=', contentAddress).where('backend_id', '=', backendId).returning('backend_id').executeTakeFirst();
  if (row === undefined) throw new Error(`event ${event.sequence}: no storage location ${contentAddress} on ${backendId}`);
}

/** Applies `changes` to a package's retention row (which must exist) and touches the package. */
async function updateRetention(trx: Transaction<Schema>, event: StoredEvent, packageId: string, changes: RetentionChanges): Promise<void> {
  const row = await trx
    .updateTable('retention_state')
    .set((eb) => ({ ...changes(eb), updated_at: event.occurredAt }))
    .where('package_id', '=', packageId)
    .returning('package_id')
    .executeTakeFirst();
  if (row === undefined) throw new Error(`event ${event.sequence}: package ${packageId} has no retention state`);
  await touchPackage(trx, event, packageId);
}

/**
 * Applies events read from the log, in order, decoding each payload from its stored bytes (replay, and
 * any reader of stored events): the decoder's canonical-form check makes replay a true check of the log.
 */
export async function applyEvents(trx: Transaction<Schema>, events: readonly StoredEvent[]): Promise<void> {
  await project(trx, events, (event) => decodeCanonical(event.payload));
}

/**
 * Applies events just appended in this transaction, with the payloads `appendEvents` returned (equal to
 * what decoding their bytes gives, without decoding bytes it has just produced). Same handlers, same
 * rows as `applyEvents`.
 */
export async function applyAppended(trx: Transaction<Schema>, appended: readonly AppendedEvent[]): Promise<void> {
  await project(
    trx,
    appended.map((a) => a.event),
    (_event, index) => (appended[index] as AppendedEvent).payload,
  );
}

/**
 * Applies `events` in order with the handlers, reading each payload with `payloadOf` (when it is
 * needed, so replay holds one decoded manifest at a time). A run of consecutive `v1.file.added`
 * events of one package that replace nothing (a batch upload) is applied with multi-row inserts and
 * one package update, leaving exactly the rows the handler one event at a time would.
 * Throws on an unknown type rather than silently skipping it.
 */
async function project(trx: Transaction<Schema>, events: readonly StoredEvent[], payloadOf: (event: StoredEvent, index: number) => CborValue): Promise<void> {
  let run: FileAdded[] = [];
  let last: StoredEvent | undefined;
  const flush = async (): Promise<void> => {
    const first = run[0];
    if (first === undefined || last === undefined) return;
    if (run.length === 1) await handlers['v1.file.added'](trx, last, first.payload);
    else await addFileRun(trx, run, last);
    run = [];
  };
  for (const [index, event] of events.entries()) {
    if (event.type === 'v1.file.added') {
      const added = fileAdded(event, asMap(payloadOf(event, index), `event ${event.sequence} payload`));
      if (added.replaces === null && (run[0] === undefined || run[0].packageId === added.packageId)) {
        run.push(added);
        last = event;
        continue;
      }
      await flush();
      if (added.replaces === null) {
        run.push(added);
        last = event;
        continue;
      }
      await handlers['v1.file.added'](trx, event, added.payload);
      continue;
    }
    await flush();
    if (!isEventType(event.type)) throw new Error(`event ${event.sequence}: unknown event type ${event.type}`);
    await handlers[event.type](trx, event, asMap(payloadOf(event, index), `event ${event.sequence} payload`));
  }
  await flush();
}

/** Applies a run of file additions of one package that replace nothing; `last` is the run's last event. */
async function addFileRun(trx: Transaction<Schema>, run: readonly FileAdded[], last: StoredEvent): Promise<void> {
  const packageId = run[0]?.packageId ?? '';
  await insertFiles(trx, run);
  const bytes = run.reduce((sum, added) => sum + added.file.size, 0);
  await trx
    .updateTable('packages')
    .set((eb) => ({
      status: 'uploading',
      file_count: eb('file_count', '+', run.length),
      total_bytes: eb('total_bytes', '+', bytes),
      updated_at: last.occurredAt,
      last_sequence: last.sequence,
    }))
    .where('package_id', '=', packageId)
    .execute();
}
