/**
 * RegistryService end to end over real servers and clients, on every dialect (PostgreSQL when
 * ARTIFACTSTORE_TEST_DATABASE_URL is set): every transport, filters and pagination, manifests,
 * long-poll and streaming events, malformed bodies.
 */
import { fromJson, type JsonValue } from '@bufbuild/protobuf';
import { ValueSchema } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError } from '@connectrpc/connect';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manifestDigest } from '../../core/manifest/digest.ts';
import { manifestFromJcs } from '../../core/manifest/jcs.ts';
import { decodeManifest } from '../../core/manifest/codec.ts';
import type { Database } from '../../control-plane/db/database.ts';
import { createRegistry } from '../../control-plane/registry/registry.ts';
import { createSystemClock } from '../../core/time/clock.ts';
import { ManifestFormat } from '../../gen/artifactstore/v1/registry_service_pb.ts';
import { PackageStatus } from '../../gen/artifactstore/v1/package_pb.ts';
import { DIALECTS, dialectEnabled, openTestDatabase } from '../db/test-database.ts';
import { startTestControlPlane, TOKENS, TRANSPORTS, type TestControlPlane } from './harness.ts';
import { recordText } from './fixtures.ts';

/** A google.protobuf.Value from JSON. */
const jv = (v: JsonValue) => fromJson(ValueSchema, v);

async function expectCode(p: Promise<unknown>, code: Code): Promise<ConnectError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `expected ${Code[code]}`).toBeInstanceOf(ConnectError);
  expect(Code[(err as ConnectError).code]).toBe(Code[code]);
  return err as ConnectError;
}

for (const dialect of DIALECTS) {
  (dialectEnabled(dialect) ? describe : describe.skip)(`RegistryService [${dialect}]`, () => {
    let database: Database;
    let t: TestControlPlane;
    beforeAll(async () => {
      database = await openTestDatabase(dialect);
      t = await startTestControlPlane({ database });
    });
    afterAll(async () => {
      await t?.close();
      await database?.close();
    });

    const head = async (): Promise<number> => Number((await t.registry('admin').listEvents({ since: 0n, limit: 1 })).headSequence);

    for (const transport of TRANSPORTS) {
      it(`creates, fills, finalizes and reads a package over ${transport}`, async () => {
        const ci = t.registry('ci', transport);
        const created = await ci.createPackage({ producer: 'jenkins', subject: `build-${transport}`, retentionClass: 'raw-evidence', metadata: { branch: 'main', run: 7 } });
        const pkg = created.package!;
        expect(pkg.packageId).toMatch(/^pkg_[0-9A-Z]{26}$/);
        expect(pkg.status).toBe(PackageStatus.CREATED);
        expect(pkg.metadata).toEqual({ branch: 'main', run: 7 });
        expect(pkg.expiresAt).toBeDefined();

        await recordText(t.control(), TOKENS.ci, pkg.packageId, 'logs/build.log', 'ok\n');
        await recordText(t.control(), TOKENS.ci, pkg.packageId, 'a.txt', 'a');
        const files = await ci.listFiles({ packageId: pkg.packageId });
        expect(files.files.map((f) => f.relativePath)).toEqual(['a.txt', 'logs/build.log']);
        const byPath = await ci.getFile({ packageId: pkg.packageId, relativePath: 'logs/build.log' });
        const byId = await ci.getFile({ fileId: byPath.file!.fileId });
        expect(byId.file).toEqual(byPath.file);
        expect(byId.file!.digests!.size).toBe(3n);

        await expectCode(ci.getManifest({ packageId: pkg.packageId }), Code.FailedPrecondition);
        const fin = await ci.finalizePackage({ packageId: pkg.packageId, provenance: { tool: 'test' } });
        expect(fin.package!.status).toBe(PackageStatus.FINALIZED);
        const cbor = await ci.getManifest({ packageId: pkg.packageId });
        expect(cbor.contentType).toBe('application/cbor');
        expect(manifestDigest(cbor.manifest).toString()).toBe(fin.manifestDigest);
        expect(cbor.manifestDigest).toBe(fin.manifestDigest);
        const json = await ci.getManifest({ packageId: pkg.packageId, format: ManifestFormat.JSON });
        expect(json.contentType).toBe('application/json');
        expect(manifestFromJcs(json.manifest)).toEqual(decodeManifest(cbor.manifest));
        expect((await ci.getPackage({ packageId: pkg.packageId })).package!.manifestDigest).toBe(fin.manifestDigest);
        await expectCode(ci.finalizePackage({ packageId: pkg.packageId }), Code.FailedPrecondition);
      });
    }

    it('maps domain errors to Connect codes with the stable reason', async () => {
      const ci = t.registry('ci');
      const err = await expectCode(ci.getPackage({ packageId: 'pkg_01JD3Y8K5Q0W3M9V7C2B6N4R8T' }), Code.NotFound);
      expect(err.metadata.get('artifactstore-reason')).toBe('not-found');
      expect(err.rawMessage).toMatch(/^\[not-found\] /);
      await expectCode(ci.createPackage({ producer: 'p', subject: 's', retentionClass: 'no-such-class' }), Code.InvalidArgument);
      await expectCode(ci.createPackage({ producer: '', subject: 's', retentionClass: 'transient' }), Code.InvalidArgument);
      await expectCode(ci.getFile({ fileId: 'file_x', packageId: 'pkg_x' }), Code.InvalidArgument);
      await expectCode(ci.listPackages({ pageToken: 'garbage!' }), Code.InvalidArgument);
    });

    it('refuses U+0000 in any text of a request as invalid-argument, writing nothing (PostgreSQL cannot store it)', async () => {
      const before = await head();
      const ci = t.registry('ci');
      const { package: pkg } = await ci.createPackage({ producer: 'p', subject: 's', retentionClass: 'transient' });
      const after = await head();
      const calls: [string, Promise<unknown>][] = [
        ['metadata value', ci.createPackage({ producer: 'p', subject: 's', retentionClass: 'transient', metadata: { k: 'a\u0000b' } })],
        ['metadata key', ci.createPackage({ producer: 'p', subject: 's', retentionClass: 'transient', metadata: { 'k\u0000': 1 } })],
        ['producer', ci.createPackage({ producer: 'p\u0000', subject: 's', retentionClass: 'transient' })],
        ['package id', ci.getPackage({ packageId: 'pkg\u0000' })],
        ['list files', ci.listFiles({ packageId: `${pkg!.packageId}\u0000` })],
        ['finalize', ci.finalizePackage({ packageId: `${pkg!.packageId}\u0000` })],
        ['producer filter', ci.listPackages({ producer: 'p\u0000' })],
        ['metadata filter', ci.listPackages({ metadata: [{ key: 'k', value: jv('v\u0000') }] })],
        ['retention', t.retention('ci').applyHold({ packageId: pkg!.packageId, reason: 'r\u0000' })],
      ];
      for (const [what, call] of calls) {
        const err = await expectCode(call, Code.InvalidArgument);
        expect([what, err.metadata.get('artifactstore-reason')]).toEqual([what, 'invalid-argument']);
        expect(err.rawMessage, what).toMatch(/must not contain U\+0000 \(NUL\)/);
      }
      expect(after).toBe(before + 2); // the package and its retention: nothing since
      expect(await head()).toBe(after);
      // The HTTP manifest route, which no interceptor sees.
      const res = await fetch(`${t.url}/packages/pkg%00/manifest`, { headers: { authorization: t.authorization('ci')! } });
      expect([res.status, ((await res.json()) as { code: string }).code]).toEqual([400, 'invalid-argument']);
    });

    it('lists packages newest first with filters and keyset pagination', async () => {
      const ci = t.registry('ci');
      const ids: string[] = [];
      const specs = [
        { producer: 'gitlab', subject: 'svc-a', retentionClass: 'transient', metadata: { branch: 'main', tags: ['x', 'y'] } },
        { producer: 'gitlab', subject: 'svc-b', retentionClass: 'transient', metadata: { branch: 'dev', tags: ['x'] } },
        { producer: 'gitlab', subject: 'svc-a', retentionClass: 'summary-evidence', metadata: { branch: 'main', n: 3 } },
        { producer: 'gitlab', subject: 'svc-c', retentionClass: 'transient', metadata: { branch: 'main', n: 4 } },
        { producer: 'gitlab', subject: 'svc-a', retentionClass: 'transient', metadata: { branch: 'main', n: 3, nested: { k: true } } },
      ];
      for (const s of specs) ids.push((await ci.createPackage(s)).package!.packageId);
      await t.registry('assess').createPackage({ producer: 'gitlab', subject: 'svc-a', retentionClass: 'transient', metadata: { branch: 'main' } });

      const all = await ci.listPackages({ producer: 'gitlab' });
      expect(all.packages.map((p) => p.packageId)).toEqual([...ids].reverse());
      expect(all.nextPageToken).toBe('');

      const list = async (req: Parameters<typeof ci.listPackages>[0]): Promise<string[]> => (await ci.listPackages({ producer: 'gitlab', ...req })).packages.map((p) => p.packageId);
      expect(await list({ subject: 'svc-a' })).toEqual([ids[4], ids[2], ids[0]]);
      expect(await list({ retentionClass: 'summary-evidence' })).toEqual([ids[2]]);
      expect(await list({ metadata: [{ key: 'branch', value: jv('main') }] })).toEqual([ids[4], ids[3], ids[2], ids[0]]);
      expect(await list({ metadata: [{ key: 'branch', value: jv('main') }, { key: 'n', value: jv(3) }] })).toEqual([ids[4], ids[2]]);
      expect(await list({ metadata: [{ key: 'tags', value: jv(['x']) }] })).toEqual([ids[1]]);
      expect(await list({ metadata: [{ key: 'nested', value: jv({ k: true }) }] })).toEqual([ids[4]]);
      expect(await list({ metadata: [{ key: 'n', value: jv('3') }] })).toEqual([]);
      expect(await list({ status: PackageStatus.FINALIZED })).toEqual([]);
      expect(await list({ status: PackageStatus.CREATED, subject: 'svc-c' })).toEqual([ids[3]]);

      const seen: string[] = [];
      let pageToken = '';
      let pages = 0;
      do {
        const page = await ci.listPackages({ producer: 'gitlab', pageSize: 2, pageToken });
        seen.push(...page.packages.map((p) => p.packageId));
        pageToken = page.nextPageToken;
        pages += 1;
      } while (pageToken !== '');
      expect(pages).toBe(3);
      expect(seen).toEqual([...ids].reverse());

      const first = await ci.listPackages({ producer: 'gitlab', pageSize: 2 });
      await expectCode(ci.listPackages({ producer: 'other', pageSize: 2, pageToken: first.nextPageToken }), Code.InvalidArgument);
      // The tenant boundary: admin sees both tenants' packages, assess only its own.
      expect((await t.registry('admin').listPackages({ producer: 'gitlab' })).packages).toHaveLength(6);
      expect((await t.registry('assess').listPackages({ producer: 'gitlab' })).packages).toHaveLength(1);
    });

    it('paginates files by relative path', async () => {
      const ci = t.registry('ci');
      const pkg = (await ci.createPackage({ producer: 'p', subject: 'files', retentionClass: 'transient' })).package!;
      const paths = ['b/2', 'a', 'b/1', 'c', 'Z'];
      for (const p of paths) await recordText(t.control(), TOKENS.ci, pkg.packageId, p, p);
      const seen: string[] = [];
      let pageToken = '';
      do {
        const page = await ci.listFiles({ packageId: pkg.packageId, pageSize: 2, pageToken });
        seen.push(...page.files.map((f) => f.relativePath));
        pageToken = page.nextPageToken;
      } while (pageToken !== '');
      expect(seen).toEqual(['Z', 'a', 'b/1', 'b/2', 'c']);
    });

    it('ListEvents long-polls until a commit wakes it, and returns empty when the wait ends', async () => {
      const ci = t.registry('ci');
      const since = BigInt(await head());
      const started = performance.now();
      const empty = await ci.listEvents({ since, wait: { seconds: 0n, nanos: 300_000_000 } });
      expect(empty.events).toEqual([]);
      expect(performance.now() - started).toBeGreaterThanOrEqual(250);

      const waiting = ci.listEvents({ since, wait: { seconds: 30n, nanos: 0 } });
      await new Promise((r) => setTimeout(r, 200));
      const t0 = performance.now();
      const created = await ci.createPackage({ producer: 'p', subject: 'wake', retentionClass: 'transient' });
      const res = await waiting;
      // Woken by the commit, well before the wait (30 s) would have ended; the margin is for a busy machine.
      expect(performance.now() - t0).toBeLessThan(15_000);
      expect(res.events[0]?.type).toBe('v1.package.created');
      expect(res.events[0]?.packageId).toBe(created.package!.packageId);
      expect(res.events[0]?.sequence).toBe(since + 1n);
    });

    it('wakes a long poll for a commit made outside the server (another process), by polling', async () => {
      const since = BigInt(await head());
      const waiting = t.registry('ci').listEvents({ since, wait: { seconds: 30n, nanos: 0 } });
      await new Promise((r) => setTimeout(r, 200));
      // A second registry on the same database, as another control-plane process would be: its
      // commits do not call this server's onCommit hook.
      const outsider = createRegistry({ db: database.db, clock: createSystemClock() });
      const t0 = performance.now();
      await outsider.createPackage({ tenant: 'ci', producer: 'elsewhere', subject: 'other-process', retentionClass: 'transient' });
      const res = await waiting;
      // Woken by the commit, well before the wait (30 s) would have ended; the margin is for a busy machine.
      expect(performance.now() - t0).toBeLessThan(15_000);
      expect(res.events[0]?.type).toBe('v1.package.created');
    });

    it('shows a tenant only the events of its own packages; admin sees all', async () => {
      const a = (await t.registry('assess').createPackage({ producer: 'p', subject: 'mine', retentionClass: 'transient' })).package!;
      const c = (await t.registry('ci').createPackage({ producer: 'p', subject: 'theirs', retentionClass: 'transient' })).package!;
      const assessEvents = (await t.registry('assess').listEvents({ since: 0n, limit: 1000 })).events;
      expect(assessEvents.some((e) => e.packageId === a.packageId)).toBe(true);
      expect(assessEvents.some((e) => e.packageId === c.packageId)).toBe(false);
      const adminEvents = (await t.registry('admin').listEvents({ since: 0n, limit: 1000 })).events;
      expect(adminEvents.map((e) => Number(e.sequence))).toEqual(adminEvents.map((_, i) => i + 1));
    });

    it('WatchEvents streams the backlog, then each new event as it commits', async () => {
      const before = await head();
      const abort = new AbortController();
      const stream = t.registry('admin', 'grpc').watchEvents({ since: 0n }, { signal: abort.signal });
      const seen: bigint[] = [];
      let createdId = '';
      try {
        for await (const msg of stream) {
          seen.push(msg.event!.sequence);
          if (Number(msg.event!.sequence) === before) {
            createdId = (await t.registry('ci').createPackage({ producer: 'p', subject: 'live', retentionClass: 'transient' })).package!.packageId;
          }
          if (msg.event!.packageId === createdId && msg.event!.type === 'v1.package.created') break;
        }
      } finally {
        abort.abort();
      }
      expect(seen.map(Number)).toEqual(Array.from({ length: before + 1 }, (_, i) => i + 1));
    });

    it('refuses malformed JSON and protobuf bodies with InvalidArgument, writing nothing', async () => {
      const before = await head();
      const url = `${t.url}/artifactstore.v1.RegistryService/CreatePackage`;
      const auth = { authorization: t.authorization('ci')! };
      const bad = [
        { 'content-type': 'application/json', body: '{"producer": "x", ' },
        { 'content-type': 'application/json', body: '{"producer": 5, "subject": "s", "retentionClass": "transient"}' },
        { 'content-type': 'application/json', body: '{"nope": 1}' },
        { 'content-type': 'application/proto', body: new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]) },
        { 'content-type': 'application/proto', body: new Uint8Array([0xff]) },
      ];
      for (const b of bad) {
        const res = await fetch(url, { method: 'POST', headers: { ...auth, 'content-type': b['content-type'] }, body: b.body });
        const body = (await res.json()) as { code: string };
        // connect-es 2.2 reports binary parse failures as `internal` before any interceptor runs
        // (protocol/serialization.js); JSON parse failures are `invalid_argument`. See ADR 0007.
        const expected = b['content-type'] === 'application/json' ? ['invalid_argument', 400] : ['internal', 500];
        expect([body.code, res.status], JSON.stringify(b.body)).toEqual(expected);
      }
      expect(await head()).toBe(before);
    });

    it('answers a plain fetch of Connect JSON, as curl would send it', async () => {
      const res = await fetch(`${t.url}/artifactstore.v1.RegistryService/CreatePackage`, {
        method: 'POST',
        headers: { authorization: t.authorization('ci')!, 'content-type': 'application/json' },
        body: JSON.stringify({ producer: 'curl', subject: 'plain', retentionClass: 'transient', metadata: { via: 'fetch' } }),
      });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { package: { packageId: string; status: string; metadata: unknown } };
      expect(body.package.status).toBe('PACKAGE_STATUS_CREATED');
      expect(body.package.metadata).toEqual({ via: 'fetch' });
      const get = await fetch(`${t.url}/artifactstore.v1.RegistryService/GetPackage`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ packageId: body.package.packageId }) });
      expect(get.status).toBe(401);
      expect(((await get.json()) as { code: string }).code).toBe('unauthenticated');
    });

    it('reads a call timeout longer than a timer can wait (a month) as a long one, not as one passed at once', async () => {
      // connect-node hands the timeout to setTimeout, which fires anything over 2^31 - 1 ms at once: a
      // long poll would end at once with deadline_exceeded.
      for (const timeout of ['2592000000', '9999999999']) {
        const started = performance.now();
        const res = await fetch(`${t.url}/artifactstore.v1.RegistryService/ListEvents`, {
          method: 'POST',
          headers: { authorization: t.authorization('ci')!, 'content-type': 'application/json', 'connect-timeout-ms': timeout },
          body: JSON.stringify({ since: '1000000000', wait: '1s' }),
        });
        expect([timeout, res.status, ((await res.json()) as { events?: unknown[] }).events ?? []]).toEqual([timeout, 200, []]);
        expect(performance.now() - started).toBeGreaterThan(900);
      }
    });
  });
}
