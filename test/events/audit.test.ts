import { sql, type Kysely } from 'kysely';
import { expect, it } from 'vitest';
import { createManualClock } from '../../core/time/clock.ts';
import type { Schema } from '../../control-plane/db/schema.ts';
import { verifyEventChain } from '../../control-plane/events/audit.ts';
import { createRegistry } from '../../control-plane/registry/registry.ts';
import { describeEachDialect } from '../db/test-database.ts';
import { runWorkload } from '../registry/workload.ts';

/** Edits the log as an attacker with table-owner rights would: with the insert-only trigger off. */
async function tamper(db: Kysely<Schema>, edit: (db: Kysely<Schema>) => Promise<unknown>): Promise<void> {
  await sql`ALTER TABLE events DISABLE TRIGGER events_no_update_delete`.execute(db);
  try {
    await edit(db);
  } finally {
    await sql`ALTER TABLE events ENABLE TRIGGER events_no_update_delete`.execute(db);
  }
}

describeEachDialect('audit verify', (get) => {
  it('passes on an untouched log and names the first tampered sequence', async () => {
    const { db } = get();
    const clock = createManualClock(new Date('2026-11-23T09:00:00.000Z'));
    await runWorkload(createRegistry({ db, clock }), clock);
    const clean = await verifyEventChain(db);
    expect(clean.ok).toBe(true);
    const total = clean.checked;
    expect(total).toBeGreaterThan(10);

    const target = 5;
    const original = await db.selectFrom('events').selectAll().where('sequence', '=', target).executeTakeFirstOrThrow();
    const restore = () => tamper(db, (d) => d.updateTable('events').set({ payload: original.payload, hash: original.hash, occurred_at: original.occurred_at, package_id: original.package_id }).where('sequence', '=', target).execute());

    // 1. One byte of the payload changed (still canonical CBOR: a text character swapped).
    const payload = Buffer.from(original.payload);
    const at = payload.indexOf(Buffer.from('junit'));
    expect(at).toBeGreaterThan(0);
    payload[at] = 'x'.charCodeAt(0);
    await tamper(db, (d) => d.updateTable('events').set({ payload }).where('sequence', '=', target).execute());
    expect(await verifyEventChain(db)).toMatchObject({ ok: false, sequence: target, reason: 'hash-mismatch' });
    await restore();
    expect((await verifyEventChain(db)).ok).toBe(true);

    // 2. The hash itself rewritten: the next event's link no longer matches.
    await tamper(db, (d) => d.updateTable('events').set({ hash: `blake3:${'ab'.repeat(32)}` }).where('sequence', '=', target).execute());
    expect(await verifyEventChain(db)).toMatchObject({ ok: false, sequence: target, reason: 'hash-mismatch' });
    await restore();

    // 3. The timestamp moved.
    await tamper(db, (d) => d.updateTable('events').set({ occurred_at: '2020-01-01T00:00:00.000Z' }).where('sequence', '=', target).execute());
    expect(await verifyEventChain(db)).toMatchObject({ ok: false, sequence: target, reason: 'hash-mismatch' });
    await restore();

    // 4. The indexed package_id column pointed at another package.
    await tamper(db, (d) => d.updateTable('events').set({ package_id: 'pkg_other' }).where('sequence', '=', target).execute());
    expect(await verifyEventChain(db)).toMatchObject({ ok: false, sequence: target, reason: 'package-id-mismatch' });
    await restore();

    // 5. A row deleted from the middle, and the last row deleted.
    await tamper(db, (d) => d.deleteFrom('events').where('sequence', '=', target).execute());
    expect(await verifyEventChain(db)).toMatchObject({ ok: false, sequence: target, reason: 'sequence-gap' });
    await tamper(db, (d) => d.insertInto('events').values(original).execute());
    const last = await db.selectFrom('events').selectAll().where('sequence', '=', total).executeTakeFirstOrThrow();
    await tamper(db, (d) => d.deleteFrom('events').where('sequence', '=', total).execute());
    expect(await verifyEventChain(db)).toMatchObject({ ok: false, sequence: total, reason: 'head-mismatch' });
    await tamper(db, (d) => d.insertInto('events').values(last).execute());
    expect(await verifyEventChain(db)).toMatchObject({ ok: true, checked: total });
  });
});
