/**
 * The auth matrix: every RegistryService method × (no token, unknown token, the owner's token,
 * another tenant's token, admin, the internal token) × anonymous reads off and on; plus who may call
 * ControlService. Another tenant's package is NotFound, never PermissionDenied.
 */
import { Code, ConnectError, createClient, type Client } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MethodNames } from './method-names.ts';
import { RegistryService } from '../../gen/artifactstore/v1/registry_service_pb.ts';
import { ControlService } from '../../gen/artifactstore/internal/v1/control_service_pb.ts';
import { startTestControlPlane, TOKENS, type TestControlPlane, type Who } from './harness.ts';
import { recordText } from './fixtures.ts';

type Outcome = 'ok' | Code;
type RegistryClient = Client<typeof RegistryService>;

/** One call per method, against the `ci` tenant's finalized package `pkg` (file `f`). */
const calls: Record<MethodNames<typeof RegistryService>, (c: RegistryClient, pkg: string, file: string) => Promise<unknown>> = {
  createPackage: (c) => c.createPackage({ producer: 'p', subject: 's', retentionClass: 'transient' }),
  getPackage: (c, pkg) => c.getPackage({ packageId: pkg }),
  listPackages: async (c, pkg) => {
    const res = await c.listPackages({});
    if (!res.packages.some((p) => p.packageId === pkg)) throw new ConnectError('not listed', Code.NotFound);
  },
  finalizePackage: (c, pkg) => c.finalizePackage({ packageId: pkg }),
  getManifest: (c, pkg) => c.getManifest({ packageId: pkg }),
  listFiles: (c, pkg) => c.listFiles({ packageId: pkg }),
  getFile: (c, _pkg, file) => c.getFile({ fileId: file }),
  listEvents: async (c, pkg) => {
    const res = await c.listEvents({ since: 0n, limit: 1000 });
    if (!res.events.some((e) => e.packageId === pkg)) throw new ConnectError('not listed', Code.NotFound);
  },
  watchEvents: async (c, pkg) => {
    // The last event the caller may see (undefined if it may not list them): once the watch has
    // streamed it, the package's events would have come before. The timer is only a safety net.
    const visible = await c.listEvents({ since: 0n, limit: 1000 }).then(
      (res) => res.events.at(-1)?.sequence ?? 0n,
      () => undefined,
    );
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), 30_000);
    try {
      for await (const m of c.watchEvents({ since: 0n }, { signal: abort.signal })) {
        if (m.event?.packageId === pkg) return;
        if (visible !== undefined && (m.event?.sequence ?? 0n) >= visible) break;
      }
    } catch (err) {
      if (!abort.signal.aborted) throw err;
    } finally {
      clearTimeout(timer);
    }
    throw new ConnectError('not listed', Code.NotFound);
  },
};

const WRITES = new Set<string>(['createPackage', 'finalizePackage']);

/** What `who` gets from `method` on ci's package. */
function expected(method: string, who: Who | 'internal', anonRead: boolean): Outcome {
  const write = WRITES.has(method);
  switch (who) {
    case 'bad':
      return Code.Unauthenticated;
    case 'none':
      return write || !anonRead ? Code.Unauthenticated : 'ok';
    case 'internal':
      return Code.PermissionDenied;
    case 'ci':
    case 'admin':
      // The package is finalized: finalizing again is a precondition failure, not an auth one.
      return method === 'finalizePackage' ? Code.FailedPrecondition : 'ok';
    case 'assess':
      return method === 'createPackage' ? 'ok' : Code.NotFound;
  }
}

async function outcome(p: Promise<unknown>): Promise<Outcome> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return ConnectError.from(err).code;
  }
}

const name = (o: Outcome): string => (o === 'ok' ? 'ok' : Code[o]);

for (const anonRead of [false, true]) {
  describe(`auth matrix, anonymous reads ${anonRead ? 'on' : 'off'}`, () => {
    let t: TestControlPlane;
    let pkg = '';
    let file = '';
    beforeAll(async () => {
      t = await startTestControlPlane({ anonRead });
      pkg = (await t.registry('ci').createPackage({ producer: 'p', subject: 'secret', retentionClass: 'transient' })).package!.packageId;
      file = (await recordText(t.control(), TOKENS.ci, pkg, 'a.txt', 'a')).fileId;
      await t.registry('ci').finalizePackage({ packageId: pkg });
    });
    afterAll(() => t?.close());

    it('applies the rules to every RegistryService method', async () => {
      const whos: (Who | 'internal')[] = ['none', 'bad', 'ci', 'assess', 'admin', 'internal'];
      const actual: string[] = [];
      const wanted: string[] = [];
      for (const [method, call] of Object.entries(calls)) {
        for (const who of whos) {
          const client = who === 'internal' ? createClient(RegistryService, createConnectTransport({ baseUrl: t.url, httpVersion: '1.1', interceptors: [(next) => (req) => (req.header.set('authorization', `Bearer ${t.cp.internalToken}`), next(req))] })) : t.registry(who);
          actual.push(`${method} as ${who}: ${name(await outcome(call(client, pkg, file)))}`);
          wanted.push(`${method} as ${who}: ${name(expected(method, who, anonRead))}`);
        }
      }
      expect(actual).toEqual(wanted);
    });

    it('admits only the internal token to ControlService', async () => {
      const req = { advertiseUrl: 'http://127.0.0.1:9', backendId: 'local' };
      expect(name(await outcome(t.control(undefined).registerDataPlane(req)))).toBe('ok');
      expect(name(await outcome(t.control(TOKENS.admin).registerDataPlane(req)))).toBe('PermissionDenied');
      expect(name(await outcome(t.control(TOKENS.ci).heartbeat({ dataPlaneId: 'x' })))).toBe('PermissionDenied');
      expect(name(await outcome(t.control('wrong-internal-token-000000').heartbeat({ dataPlaneId: 'x' })))).toBe('Unauthenticated');
      const anonymous = createClient(ControlService, createConnectTransport({ baseUrl: t.url, httpVersion: '1.1' }));
      expect(name(await outcome(anonymous.heartbeat({ dataPlaneId: 'x' })))).toBe('Unauthenticated');
    });

    it('authorizes the forwarded client token like a public call', async () => {
      const c = t.control();
      const resolve = (clientToken: string) => outcome(c.resolveRead({ clientToken, fileId: file }));
      expect(name(await resolve(TOKENS.ci))).toBe('ok');
      expect(name(await resolve(TOKENS.assess))).toBe('NotFound');
      expect(name(await resolve(''))).toBe(anonRead ? 'ok' : 'Unauthenticated');
      expect(name(await resolve('not-a-configured-token-000'))).toBe('Unauthenticated');
      // The internal token is not a client token.
      expect(name(await resolve(t.cp.internalToken))).toBe('Unauthenticated');
      expect(name(await outcome(c.authorizeWrite({ clientToken: '', packageId: pkg, relativePath: 'b.txt' })))).toBe('Unauthenticated');
      const resolveMany = (clientToken: string) => outcome(c.resolvePackageReads({ clientToken, packageId: pkg }));
      expect(name(await resolveMany(TOKENS.ci))).toBe('ok');
      expect(name(await resolveMany(TOKENS.assess))).toBe('NotFound');
      expect(name(await resolveMany(''))).toBe(anonRead ? 'ok' : 'Unauthenticated');
      expect(name(await resolveMany('not-a-configured-token-000'))).toBe('Unauthenticated');
      expect(name(await resolveMany(t.cp.internalToken))).toBe('Unauthenticated');
    });

    it('answers health without any token, and with a wrong one', async () => {
      const res = await fetch(`${t.url}/grpc.health.v1.Health/Check`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer nonsense' }, body: '{}' });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ status: 'SERVING' });
    });
  });
}
