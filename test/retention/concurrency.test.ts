/**
 * Many clients at once on one package — extend, hold, release, sweep — through a real control plane
 * on every dialect (PostgreSQL gives true concurrency: a pool of connections). Afterwards the views
 * must equal a replay of the log, the hold count must match the holds, and eligibility events must
 * alternate (never marked twice in a row).
 */
import { ConnectError } from '@connectrpc/connect';
import { timestampDate, timestampFromDate } from '@bufbuild/protobuf/wkt';
import { expect, it } from 'vitest';
import { createManualClock } from '../../core/time/clock.ts';
import { BUILTIN_RETENTION_POLICY } from '../../control-plane/config/operator-config.ts';
import { readEvents } from '../../control-plane/events/event-log.ts';
import { dumpViews, replay } from '../../control-plane/events/replay.ts';
import { describeEachDialect } from '../db/test-database.ts';
import { startTestControlPlane, type Who } from '../control-plane/harness.ts';

const CLIENTS = 12;
const OPS = 12;

describeEachDialect('retention under concurrency', (get) => {
  it('never leaves the views disagreeing with a replay of the log', async () => {
    const clock = createManualClock(new Date('2026-11-23T09:00:00.000Z'));
    const t = await startTestControlPlane({ database: get(), clock, retention: { classes: { ...BUILTIN_RETENTION_POLICY, transient: { kind: 'duration', ms: 60_000 } }, sweepIntervalMs: null } });
    try {
      const packageId = (await t.registry('ci').createPackage({ producer: 'p', subject: 'contended', retentionClass: 'transient' })).package!.packageId;
      // Time is far past the expiry; small extensions keep it in the past, so sweeps keep finding it.
      clock.advance(3_600_000);
      const holds: string[] = [];
      let failures = 0;
      const worker = async (n: number): Promise<void> => {
        const who: Who = n % 3 === 0 ? 'admin' : 'ci';
        const c = t.retention(who, n % 2 === 0 ? 'connect-binary' : 'grpc');
        for (let i = 0; i < OPS; i++) {
          const op = (n + i) % 5;
          try {
            if (op === 0) {
              const cur = (await c.getRetention({ packageId })).retention!.expiresAt!;
              // Mostly small steps (stays expired); now and then past now (withdraws eligibility).
              const step = i % 4 === 3 ? 7_200_000 : 1000;
              await c.extendRetention({ packageId, newExpiresAt: timestampFromDate(new Date(timestampDate(cur).getTime() + step)), reason: `client ${n} op ${i}` });
            } else if (op === 1) {
              holds.push((await c.applyHold({ packageId, reason: `client ${n}` })).hold!.holdId);
            } else if (op === 2) {
              for (const holdId of holds.splice(0)) await c.releaseHold({ packageId, holdId, reason: `client ${n}` });
            } else if (op === 3) {
              await t.retention('admin').sweepRetention({});
            } else {
              clock.advance(3_600_000);
              await t.retention('admin').sweepRetention({});
            }
          } catch (err) {
            // Losing a race (an extension overtaken by another) is a clean refusal, nothing else.
            const e = ConnectError.from(err);
            if (!/strictly later|already released/.test(e.rawMessage)) throw err;
            failures += 1;
          }
        }
      };
      await Promise.all(Array.from({ length: CLIENTS }, (_, n) => worker(n)));
      // Release what is left, and sweep once more: the end state must be eligible.
      for (const holdId of holds) await t.retention('ci').releaseHold({ packageId, holdId, reason: 'cleanup' });
      clock.advance(10 * 86_400_000);
      await t.retention('admin').sweepRetention({});

      const { db } = get();
      const live = await dumpViews(db);
      await replay(db);
      expect(await dumpViews(db)).toEqual(live);

      const state = await db.selectFrom('retention_state').selectAll().where('package_id', '=', packageId).executeTakeFirstOrThrow();
      const active = await db.selectFrom('holds').select('hold_id').where('package_id', '=', packageId).where('released_at', 'is', null).execute();
      expect(state.active_holds).toBe(active.length);
      expect(state.deletion_eligible).toBe(true);

      const flips = (await readEvents(db, { after: 0, packageId, limit: 100_000 })).map((e) => e.type).filter((x) => x === 'v1.retention.deletion_eligible' || x === 'v1.retention.deletion_ineligible');
      expect(flips.at(-1)).toBe('v1.retention.deletion_eligible');
      flips.forEach((x, i) => expect(x, `flip ${i}`).toBe(i % 2 === 0 ? 'v1.retention.deletion_eligible' : 'v1.retention.deletion_ineligible'));
      expect(failures).toBeLessThan(CLIENTS * OPS);
    } finally {
      await t.close();
    }
  });
});
