// The live writer hands the projector the payload values it has just encoded instead of decoding its
// own bytes; replay decodes the stored bytes. Both must see the same value, to the key order, for
// every event type the registry writes, or live views and replayed views could drift apart.
import { expect, it, vi } from 'vitest';
import { decodeCanonical } from '../../core/cbor/canonical.ts';
import { createManualClock } from '../../core/time/clock.ts';
import { BUILTIN_RETENTION_POLICY } from '../../control-plane/config/operator-config.ts';
import { readEvents, type AppendedEvent } from '../../control-plane/events/event-log.ts';
import type * as Projector from '../../control-plane/events/projector.ts';
import { EVENT_TYPES } from '../../control-plane/events/event-types.ts';
import { dumpViews, replay } from '../../control-plane/events/replay.ts';
import { createMutate } from '../../control-plane/registry/mutation.ts';
import { createRegistry } from '../../control-plane/registry/registry.ts';
import { createStorageLocations } from '../../control-plane/registry/storage-locations.ts';
import { describeEachDialect } from '../db/test-database.ts';
import { orderedShape } from '../events/ordered-shape.ts';
import { addTextFile, digestsOf, runWorkload } from './workload.ts';

/** The events (with payloads) of each call of the live path's projector, in order. */
const calls = vi.hoisted((): (readonly AppendedEvent[])[] => []);

vi.mock('../../control-plane/events/projector.ts', async (importOriginal) => {
  const actual = await importOriginal<typeof Projector>();
  return {
    ...actual,
    applyAppended: (...args: Parameters<typeof actual.applyAppended>) => {
      calls.push(args[1]);
      return actual.applyAppended(...args);
    },
  };
});

const hex = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');

describeEachDialect('live payloads', (get) => {
  it('equal the decoded stored payload for every event type the registry writes', async () => {
    calls.length = 0;
    const { db } = get();
    const clock = createManualClock(new Date('2026-11-23T09:00:00.000Z'));
    const registry = createRegistry({ db, clock, retentionPolicy: { ...BUILTIN_RETENTION_POLICY, transient: { kind: 'duration', ms: 10_000 } } });
    const locations = createStorageLocations({ db, mutate: createMutate(db, clock) });

    // Created, default retention, files one by one, in a batch and replaced, finalized, uploads.
    await runWorkload(registry, clock);
    // Metadata whose key order differs from the canonical one (it is stored as JSON text).
    const odd = await registry.createPackage({ tenant: 'ci', producer: 'p', subject: 's', retentionClass: 'transient', metadata: { zeta: 1, '10': [true, null, 1.5], alpha: { é: 'x', b: '', aa: -7 }, '': 'empty' } });
    await addTextFile(registry, 'ci', odd.packageId, 'ünï/😀.txt', 'text');
    await registry.finalizePackage({ tenant: 'ci', packageId: odd.packageId, provenance: { tool: 'test', '2': { y: 1, x: 2 } } });

    // Retention: eligible after expiry, withdrawn by a hold and by an extension.
    clock.advance(3_600_000);
    expect((await registry.sweepRetention({})).newlyEligible).toContain(odd.packageId);
    const hold = await registry.applyHold({ tenant: 'ci', packageId: odd.packageId, reason: 'legal', actor: 'ops' });
    await registry.releaseHold({ tenant: 'ci', packageId: odd.packageId, holdId: hold.hold.holdId, reason: 'closed', actor: 'ops' });
    expect((await registry.sweepRetention({})).newlyEligible).toContain(odd.packageId);
    await registry.extendRetention({ tenant: 'ci', packageId: odd.packageId, newExpiresAt: new Date(clock.now().getTime() + 86_400_000), reason: 'audit', actor: 'ops' });

    // Storage checks.
    await locations.recordCheck({ contentAddress: digestsOf('text').blake3, backendId: 'local', ok: true });
    await locations.recordCheck({ contentAddress: digestsOf('{"score":97}').blake3, backendId: 'local', ok: false, reason: 'size-mismatch', detail: 'short' });

    const projected = calls.flat();
    const stored = new Map((await readEvents(db, { after: 0, limit: 100_000 })).map((e) => [e.sequence, e]));
    expect(projected.map((a) => a.event.sequence)).toEqual([...stored.keys()]);
    for (const { event, payload } of projected) {
      const row = stored.get(event.sequence);
      expect(row, `event ${event.sequence}`).toBeDefined();
      expect({ ...event, payload: hex(event.payload) }).toEqual({ ...row, payload: hex(row!.payload) });
      expect(orderedShape(payload), `${event.type} ${event.sequence}`).toEqual(orderedShape(decodeCanonical(row!.payload)));
    }

    // Every event type, and both file paths of the projector: a batch run and a replacement.
    expect(new Set(projected.map((a) => a.event.type))).toEqual(new Set(EVENT_TYPES));
    const added = projected.filter((a) => a.event.type === 'v1.file.added');
    expect(added.some((a) => (a.payload as { replaces_file_id: unknown }).replaces_file_id !== null)).toBe(true);
    expect(calls.some((call) => call.filter((a) => a.event.type === 'v1.file.added').length > 1)).toBe(true);

    // And the views the live path wrote are the ones replay rebuilds from the bytes.
    const live = await dumpViews(db);
    await replay(db);
    expect(await dumpViews(db)).toEqual(live);
  });
});
