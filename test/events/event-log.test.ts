import { expect, it } from 'vitest';
import { decodeCanonical } from '../../core/cbor/canonical.ts';
import { createManualClock } from '../../core/time/clock.ts';
import type { DialectName } from '../../control-plane/db/database.ts';
import { GENESIS_HASH } from '../../control-plane/events/event-hash.ts';
import { appendEvent, headSequence, readEvents, tailEvents, type StoredEvent } from '../../control-plane/events/event-log.ts';
import { verifyEventChain } from '../../control-plane/events/audit.ts';
import { describeEachDialect } from '../db/test-database.ts';

describeEachDialect('event log', (get, dialect) => {
  const clock = createManualClock(new Date('2026-11-23T10:00:00.000Z'));

  it('appends with sequence, chained hash, canonical payload and the clock time', async () => {
    const { db } = get();
    const start = await headSequence(db);
    const first = await db.transaction().execute((trx) => appendEvent(trx, clock, { type: 'v1.package.created', payload: { package_id: 'pkg_a', n: 1 } }));
    clock.advance(1500);
    const second = await db.transaction().execute((trx) => appendEvent(trx, clock, { type: 'v1.file.added', payload: { package_id: 'pkg_a', n: 2 } }));
    expect(first.sequence).toBe(start + 1);
    expect(second.sequence).toBe(start + 2);
    expect(second.prevHash).toBe(first.hash);
    if (start === 0) expect(first.prevHash).toBe(GENESIS_HASH);
    expect(second.occurredAt).toBe('2026-11-23T10:00:01.500Z');
    expect(first.packageId).toBe('pkg_a');
    const read = await readEvents(db, { after: start });
    expect(read).toEqual([first, second]);
    expect(decodeCanonical(read[1]!.payload)).toEqual({ package_id: 'pkg_a', n: 2 });
  });

  it('never moves time backwards along the log', async () => {
    const { db } = get();
    clock.set(new Date('2026-11-23T12:00:00.000Z'));
    const a = await db.transaction().execute((trx) => appendEvent(trx, clock, { type: 'v1.package.created', payload: { n: 1 } }));
    clock.set(new Date('2026-11-23T11:00:00.000Z'));
    const b = await db.transaction().execute((trx) => appendEvent(trx, clock, { type: 'v1.package.created', payload: { n: 2 } }));
    expect(b.occurredAt).toBe(a.occurredAt);
  });

  it('leaves no gap when a writing transaction rolls back', async () => {
    const { db } = get();
    const before = await headSequence(db);
    await expect(
      db.transaction().execute(async (trx) => {
        await appendEvent(trx, clock, { type: 'v1.package.created', payload: { n: 'doomed' } });
        throw new Error('rollback');
      }),
    ).rejects.toThrow('rollback');
    const next = await db.transaction().execute((trx) => appendEvent(trx, clock, { type: 'v1.package.created', payload: { n: 'kept' } }));
    expect(next.sequence).toBe(before + 1);
    expect((await verifyEventChain(db)).ok).toBe(true);
  });

  // The acceptance figure is 8 writers x 500 events on PostgreSQL; PGlite has one connection, so the
  // same test there checks ordering with interleaved (serialised) transactions at a smaller size.
  const size: Record<DialectName, { writers: number; each: number }> = { postgres: { writers: 8, each: 500 }, pglite: { writers: 8, each: 60 } };

  it(`concurrent writers: a tail from the start sees every sequence once, in order (${size[dialect].writers} x ${size[dialect].each})`, async () => {
    const { db } = get();
    const { writers, each } = size[dialect];
    const start = await headSequence(db);
    const total = writers * each;
    const controller = new AbortController();
    const seen: StoredEvent[] = [];
    const consumer = (async () => {
      for await (const event of tailEvents(db, { after: start, pollMs: 2, signal: controller.signal })) {
        seen.push(event);
        if (seen.length === total) controller.abort();
      }
    })();
    await Promise.all(
      Array.from({ length: writers }, async (_, w) => {
        for (let i = 0; i < each; i += 1) {
          await db.transaction().execute((trx) => appendEvent(trx, clock, { type: 'v1.package.created', payload: { writer: w, i } }));
        }
      }),
    );
    const deadline = setTimeout(() => controller.abort(), 30_000);
    await consumer;
    clearTimeout(deadline);
    expect(seen.map((e) => e.sequence)).toEqual(Array.from({ length: total }, (_, k) => start + k + 1));
    // Each writer's own events appear in the order it wrote them.
    const perWriter = new Map<number, number[]>();
    for (const e of seen) {
      const p = decodeCanonical(e.payload) as { writer: number; i: number };
      perWriter.set(p.writer, [...(perWriter.get(p.writer) ?? []), p.i]);
    }
    for (const [, is] of perWriter) expect(is).toEqual(Array.from({ length: each }, (_, k) => k));
    const audit = await verifyEventChain(db);
    expect(audit.ok).toBe(true);
  });
});
