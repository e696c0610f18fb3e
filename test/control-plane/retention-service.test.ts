/**
 * RetentionService over the wire: the auth matrix (every method × every kind of caller × anonymous
 * reads off and on; refusals write no event), rejections with clear errors and no event, and the
 * history document in both encodings.
 */
import { Code, ConnectError, createClient, type Client } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { timestampDate, timestampFromDate } from '@bufbuild/protobuf/wkt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeCanonical } from '../../core/cbor/canonical.ts';
import { REASON_HEADER } from '../../control-plane/services/errors.ts';
import { HistoryFormat, RetentionService } from '../../gen/artifactstore/v1/retention_service_pb.ts';
import type { MethodNames } from './method-names.ts';
import { startTestControlPlane, type TestControlPlane, type Who } from './harness.ts';

type Outcome = 'ok' | Code;
type RetentionClient = Client<typeof RetentionService>;
const name = (o: Outcome): string => (o === 'ok' ? 'ok' : Code[o]);

async function outcome(p: Promise<unknown>): Promise<Outcome> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return ConnectError.from(err).code;
  }
}

async function head(t: TestControlPlane): Promise<bigint> {
  return (await t.registry('admin').listEvents({ since: 0n, limit: 1 })).headSequence;
}

const WRITES = new Set(['extendRetention', 'applyHold', 'releaseHold']);

function expected(method: string, who: Who | 'internal', anonRead: boolean): Outcome {
  const admin = method === 'sweepRetention';
  switch (who) {
    case 'bad':
      return Code.Unauthenticated;
    case 'none':
      return WRITES.has(method) || admin || !anonRead ? Code.Unauthenticated : 'ok';
    case 'internal':
      return Code.PermissionDenied;
    case 'ci':
      return admin ? Code.PermissionDenied : 'ok';
    case 'admin':
      return 'ok';
    case 'assess':
      return admin ? Code.PermissionDenied : Code.NotFound;
  }
}

for (const anonRead of [false, true]) {
  describe(`RetentionService auth matrix, anonymous reads ${anonRead ? 'on' : 'off'}`, () => {
    let t: TestControlPlane;
    let pkg = '';
    let step = 0;
    beforeAll(async () => {
      t = await startTestControlPlane({ anonRead });
      pkg = (await t.registry('ci').createPackage({ producer: 'p', subject: 'secret', retentionClass: 'transient' })).package!.packageId;
    });
    afterAll(() => t?.close());

    /** One call per method against ci's package; a release gets a fresh hold placed by ci first. */
    const calls: Record<MethodNames<typeof RetentionService>, (c: RetentionClient) => Promise<unknown>> = {
      extendRetention: async (c) => {
        const current = (await t.retention('ci').getRetention({ packageId: pkg })).retention!.expiresAt!;
        step += 1;
        return c.extendRetention({ packageId: pkg, newExpiresAt: timestampFromDate(new Date(timestampDate(current).getTime() + 1000)), reason: `step ${step}` });
      },
      applyHold: (c) => c.applyHold({ packageId: pkg, reason: 'matrix' }),
      releaseHold: async (c) => {
        const hold = (await t.retention('ci').applyHold({ packageId: pkg, reason: 'to release' })).hold!;
        return c.releaseHold({ packageId: pkg, holdId: hold.holdId, reason: 'matrix' });
      },
      getRetention: (c) => c.getRetention({ packageId: pkg }),
      getRetentionHistory: (c) => c.getRetentionHistory({ packageId: pkg }),
      sweepRetention: (c) => c.sweepRetention({ dryRun: true }),
    };

    it('applies the rules to every RetentionService method; refusals write nothing', async () => {
      const whos: (Who | 'internal')[] = ['none', 'bad', 'ci', 'assess', 'admin', 'internal'];
      const internal = createClient(RetentionService, createConnectTransport({ baseUrl: t.url, httpVersion: '1.1', interceptors: [(next) => (req) => (req.header.set('authorization', `Bearer ${t.cp.internalToken}`), next(req))] }));
      const actual: string[] = [];
      const wanted: string[] = [];
      for (const [method, call] of Object.entries(calls)) {
        for (const who of whos) {
          const client = who === 'internal' ? internal : t.retention(who);
          const setup = method === 'releaseHold' ? 1n : 0n;
          const before = await head(t);
          const got = await outcome(call(client));
          const after = await head(t);
          const want = expected(method, who, anonRead);
          actual.push(`${method} as ${who}: ${name(got)}`);
          wanted.push(`${method} as ${who}: ${name(want)}`);
          if (want !== 'ok') expect(after - before, `${method} as ${who} wrote events`).toBe(setup);
        }
      }
      expect(actual).toEqual(wanted);
    });
  });
}

describe('RetentionService rejections', () => {
  let t: TestControlPlane;
  let pkg = '';
  let expiresAt: Date;
  beforeAll(async () => {
    t = await startTestControlPlane();
    const created = (await t.registry('ci').createPackage({ producer: 'p', subject: 's', retentionClass: 'release-evidence' })).package!;
    pkg = created.packageId;
    expiresAt = timestampDate(created.expiresAt!);
  });
  afterAll(() => t?.close());

  /** Runs `call`, expects `code` with `message` and no new event. */
  async function rejects(call: () => Promise<unknown>, code: Code, message: RegExp): Promise<void> {
    const before = await head(t);
    const err = await call().then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(err, 'call succeeded').toBeDefined();
    expect(Code[err!.code]).toBe(Code[code]);
    expect(err!.rawMessage).toMatch(message);
    expect(err!.metadata.get(REASON_HEADER)).toBeTruthy();
    expect(await head(t)).toBe(before);
  }

  it('refuses shorter, equal or missing expiries and missing reasons', async () => {
    const ci = t.retention('ci');
    await rejects(() => ci.extendRetention({ packageId: pkg, newExpiresAt: timestampFromDate(expiresAt), reason: 'r' }), Code.InvalidArgument, /^\[invalid-argument\] new_expires_at .* must be strictly later than the current expiry/);
    await rejects(() => ci.extendRetention({ packageId: pkg, newExpiresAt: timestampFromDate(new Date(expiresAt.getTime() - 86_400_000)), reason: 'r' }), Code.InvalidArgument, /strictly later/);
    await rejects(() => ci.extendRetention({ packageId: pkg, reason: 'r' }), Code.InvalidArgument, /new_expires_at is mandatory/);
    await rejects(() => ci.extendRetention({ packageId: pkg, newExpiresAt: timestampFromDate(new Date(expiresAt.getTime() + 1000)), reason: '' }), Code.InvalidArgument, /reason is mandatory/);
    await rejects(() => ci.applyHold({ packageId: pkg, reason: ' ' }), Code.InvalidArgument, /reason is mandatory/);
    await rejects(() => t.registry('ci').createPackage({ producer: 'p', subject: 's', retentionClass: 'forever' }), Code.InvalidArgument, /unknown retention class "forever"/);
  });

  it('refuses Timestamps that are not ones (nanos out of range, past year 9999) as invalid-argument, not internal', async () => {
    const ci = t.retention('ci');
    // A package of its own: this test moves its expiry to the end of year 9999.
    const own = (await t.registry('ci').createPackage({ producer: 'p', subject: 's', retentionClass: 'release-evidence' })).package!;
    const pkg = own.packageId;
    const later = timestampFromDate(new Date(timestampDate(own.expiresAt!).getTime() + 86_400_000));
    await rejects(() => ci.extendRetention({ packageId: pkg, newExpiresAt: { ...later, nanos: 1_500_000_000 }, reason: 'r' }), Code.InvalidArgument, /^\[invalid-argument\] new_expires_at: nanos must be 0 to 999,999,999 \(got 1500000000\)/);
    await rejects(() => ci.extendRetention({ packageId: pkg, newExpiresAt: { ...later, nanos: -1 }, reason: 'r' }), Code.InvalidArgument, /nanos must be/);
    const year10000 = timestampFromDate(new Date('+010000-01-02T00:00:00Z'));
    await rejects(() => ci.extendRetention({ packageId: pkg, newExpiresAt: year10000, reason: 'r' }), Code.InvalidArgument, /new_expires_at: must be from 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z/);
    await rejects(() => t.retention('admin').sweepRetention({ asOf: year10000, dryRun: true }), Code.InvalidArgument, /as_of: must be from/);
    await rejects(() => t.registry('ci').listPackages({ expiresBefore: year10000 }), Code.InvalidArgument, /expires_before: must be from/);
    // The last instant of year 9999 is a time like any other.
    const last = timestampFromDate(new Date('9999-12-31T23:59:59.999Z'));
    expect((await ci.extendRetention({ packageId: pkg, newExpiresAt: last, reason: 'as long as can be said' })).retention?.expiresAt).toEqual(last);
  });

  it('refuses releasing an unknown or already released hold', async () => {
    const ci = t.retention('ci');
    await rejects(() => ci.releaseHold({ packageId: pkg, holdId: 'hold_01JD3Y8K5Q0W3M9V7C2B6N4R8T', reason: 'r' }), Code.NotFound, /hold hold_01JD3Y8K5Q0W3M9V7C2B6N4R8T not found/);
    const hold = (await ci.applyHold({ packageId: pkg, reason: 'legal' })).hold!;
    await ci.releaseHold({ packageId: pkg, holdId: hold.holdId, reason: 'done' });
    await rejects(() => ci.releaseHold({ packageId: pkg, holdId: hold.holdId, reason: 'again' }), Code.FailedPrecondition, /already released/);
    await rejects(() => ci.releaseHold({ packageId: pkg, holdId: hold.holdId, reason: '' }), Code.InvalidArgument, /reason is mandatory/);
  });

  it("answers NotFound for another tenant's package on every method", async () => {
    const assess = t.retention('assess');
    const hold = (await t.retention('ci').applyHold({ packageId: pkg, reason: 'x' })).hold!;
    await rejects(() => assess.extendRetention({ packageId: pkg, newExpiresAt: timestampFromDate(new Date(expiresAt.getTime() + 5000)), reason: 'r' }), Code.NotFound, /not found/);
    await rejects(() => assess.applyHold({ packageId: pkg, reason: 'r' }), Code.NotFound, /not found/);
    await rejects(() => assess.releaseHold({ packageId: pkg, holdId: hold.holdId, reason: 'r' }), Code.NotFound, /not found/);
    await rejects(() => assess.getRetention({ packageId: pkg }), Code.NotFound, /not found/);
    await rejects(() => assess.getRetentionHistory({ packageId: pkg }), Code.NotFound, /not found/);
  });

  it('requires dry_run for a future as_of', async () => {
    const future = timestampFromDate(new Date(expiresAt.getTime() + 1000));
    await rejects(() => t.retention('admin').sweepRetention({ asOf: future }), Code.InvalidArgument, /requires dry_run/);
    const before = await head(t);
    const preview = await t.retention('admin').sweepRetention({ asOf: future, dryRun: true });
    expect(preview.dryRun).toBe(true);
    expect(await head(t)).toBe(before);
  });

  it('returns the history as JCS JSON by default and as canonical CBOR on request', async () => {
    const json = await t.retention('ci').getRetentionHistory({ packageId: pkg });
    expect(json.contentType).toBe('application/json');
    const doc = JSON.parse(new TextDecoder().decode(json.document)) as { sequence: number; type: string; occurred_at: string; payload: Record<string, unknown> }[];
    expect(doc.map((d) => d.type)).toEqual(json.events.map((e) => e.type));
    expect(doc[0]).toMatchObject({ type: 'v1.retention.default_applied', payload: { package_id: pkg, retention_class: 'release-evidence' } });
    expect(doc.map((d) => d.sequence)).toEqual(json.events.map((e) => Number(e.sequence)));
    const cbor = await t.retention('ci').getRetentionHistory({ packageId: pkg, format: HistoryFormat.CBOR });
    expect(cbor.contentType).toBe('application/cbor');
    expect(decodeCanonical(cbor.document)).toEqual(doc);
  });
});
