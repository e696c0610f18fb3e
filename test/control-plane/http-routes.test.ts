/**
 * The control plane's plain HTTP routes: manifests (CBOR and JCS) with the RPC's auth, /healthz,
 * 307 redirects of every byte route to a live data plane, problem+json errors.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manifestDigest } from '../../core/manifest/digest.ts';
import { createManualClock } from '../../core/time/clock.ts';
import { ManifestFormat } from '../../gen/artifactstore/v1/registry_service_pb.ts';
import { startTestControlPlane, TOKENS, type TestControlPlane } from './harness.ts';
import { recordText } from './fixtures.ts';

describe('control-plane HTTP routes', () => {
  const clock = createManualClock(new Date('2026-11-23T09:00:00.000Z'));
  let t: TestControlPlane;
  let pkg = '';
  let open = '';
  beforeAll(async () => {
    t = await startTestControlPlane({ clock, dataPlaneTtlMs: 10_000 });
    const ci = t.registry('ci');
    pkg = (await ci.createPackage({ producer: 'p', subject: 'http', retentionClass: 'transient', metadata: { k: 'v' } })).package!.packageId;
    await recordText(t.control(), TOKENS.ci, pkg, 'a.txt', 'alpha');
    await ci.finalizePackage({ packageId: pkg });
    open = (await ci.createPackage({ producer: 'p', subject: 'open', retentionClass: 'transient' })).package!.packageId;
  });
  afterAll(() => t?.close());

  const get = (path: string, who: 'ci' | 'assess' | 'none' = 'ci', headers: Record<string, string> = {}) =>
    fetch(`${t.url}${path}`, { headers: { ...headers, ...(who === 'none' ? {} : { authorization: `Bearer ${TOKENS[who]}` }) }, redirect: 'manual' });

  it('serves the manifest as the same CBOR bytes GetManifest returns, and as JCS', async () => {
    const rpc = await t.registry('ci').getManifest({ packageId: pkg });
    const res = await get(`/packages/${pkg}/manifest`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/cbor');
    const bytes = new Uint8Array(await res.arrayBuffer());
    expect(Buffer.from(bytes).equals(Buffer.from(rpc.manifest))).toBe(true);
    expect(manifestDigest(bytes).toString()).toBe(rpc.manifestDigest);
    expect(res.headers.get('etag')).toBe(`"${rpc.manifestDigest}"`);
    expect(res.headers.get('artifactstore-manifest-digest')).toBe(rpc.manifestDigest);

    const json = await get(`/packages/${pkg}/manifest.json`);
    expect(json.headers.get('content-type')).toBe('application/json');
    const jcs = new Uint8Array(await json.arrayBuffer());
    const rpcJson = await t.registry('ci').getManifest({ packageId: pkg, format: ManifestFormat.JSON });
    expect(Buffer.from(jcs).equals(Buffer.from(rpcJson.manifest))).toBe(true);
    expect((JSON.parse(Buffer.from(jcs).toString('utf8')) as { package: { package_id: string } }).package.package_id).toBe(pkg);

    const cached = await get(`/packages/${pkg}/manifest`, 'ci', { 'if-none-match': `"${rpc.manifestDigest}"` });
    expect(cached.status).toBe(304);
    // RFC 9110 §13.1.2: weak comparison, a list, and `*` match too; another tag does not.
    for (const value of [`W/"${rpc.manifestDigest}"`, `"blake3:00", "${rpc.manifestDigest}"`, '*']) {
      expect((await get(`/packages/${pkg}/manifest`, 'ci', { 'if-none-match': value })).status, value).toBe(304);
    }
    expect((await get(`/packages/${pkg}/manifest`, 'ci', { 'if-none-match': '"blake3:00"' })).status).toBe(200);
    const head = await fetch(`${t.url}/packages/${pkg}/manifest`, { method: 'HEAD', headers: { authorization: `Bearer ${TOKENS.ci}` } });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(bytes.byteLength));
  });

  it('answers manifest errors as problem+json with a stable code', async () => {
    const cases: [string, 'ci' | 'assess' | 'none', number, string][] = [
      [`/packages/${pkg}/manifest`, 'none', 401, 'unauthenticated'],
      [`/packages/${pkg}/manifest`, 'assess', 404, 'not-found'],
      [`/packages/${open}/manifest.json`, 'ci', 409, 'failed-precondition'],
      ['/packages/pkg_nope/manifest', 'ci', 404, 'not-found'],
      ['/packages/%E0%A4%A/manifest', 'ci', 400, 'invalid-argument'],
      ['/nothing/here', 'ci', 404, 'not-found'],
    ];
    for (const [path, who, status, code] of cases) {
      const res = await get(path, who);
      expect([res.status, res.headers.get('content-type')], path).toEqual([status, 'application/problem+json']);
      expect(await res.json()).toMatchObject({ status, code });
    }
    const bad = await fetch(`${t.url}/packages/${pkg}/manifest`, { headers: { authorization: 'Bearer not-a-configured-token-000' } });
    expect(bad.status).toBe(401);
    expect(bad.headers.get('www-authenticate')).toMatch(/^Bearer/);
    const post = await fetch(`${t.url}/packages/${pkg}/manifest`, { method: 'POST' });
    expect([post.status, post.headers.get('allow')]).toEqual([405, 'GET, HEAD']);
  });

  it('reports health: database and live data planes; degraded (still 200) while none is live', async () => {
    const res = await fetch(`${t.url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'degraded', database: { ok: true }, data_planes: [], problems: ['no data plane is live: uploads and downloads cannot work'] });
  });

  it('redirects byte routes to a live data plane with 307, and answers 503 when none is live', async () => {
    const routes: [string, string][] = [
      ['PUT', `/packages/${open}/files/dir/a%20b.txt?replace=true`],
      ['GET', `/packages/${pkg}/files/a.txt`],
      ['POST', '/uploads'],
      ['PATCH', '/uploads/upload_X'],
      ['HEAD', '/uploads/upload_X'],
      ['DELETE', '/uploads/upload_X'],
      ['POST', '/uploads/upload_X/complete'],
      ['GET', '/files/file_X/download?x=1'],
      ['GET', `/packages/${pkg}/archive`],
      ['POST', `/packages/${pkg}/archive`],
    ];
    const none = await fetch(`${t.url}/uploads`, { method: 'POST', redirect: 'manual' });
    expect(none.status).toBe(503);
    expect(await none.json()).toMatchObject({ code: 'unavailable' });

    const reg = await t.control().registerDataPlane({ advertiseUrl: 'http://127.0.0.1:8001', backendId: 'local' });
    for (const [method, path] of routes) {
      const res = await fetch(`${t.url}${path}`, { method, redirect: 'manual', ...(method === 'PUT' || method === 'PATCH' ? { body: 'bytes' } : {}) });
      expect([res.status, res.headers.get('location')], `${method} ${path}`).toEqual([307, `http://127.0.0.1:8001${path}`]);
    }
    const wrong = await fetch(`${t.url}/files/file_X/download`, { method: 'DELETE', redirect: 'manual' });
    expect(wrong.status).toBe(405);

    const health = (await (await fetch(`${t.url}/healthz`)).json()) as { status: string; data_planes: { id: string }[]; problems?: string[] };
    expect(health.data_planes.map((p) => p.id)).toEqual([reg.dataPlaneId]);
    expect([health.status, health.problems]).toEqual(['ok', undefined]);
    clock.advance(10_001);
    expect((await fetch(`${t.url}/uploads`, { method: 'POST', redirect: 'manual' })).status).toBe(503);
  });
});
