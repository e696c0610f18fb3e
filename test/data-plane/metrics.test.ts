// GET /metrics on both processes: Prometheus text, state gauges read from the database, request
// counters that move with the traffic.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { bytesOf, startCluster, TOKEN_A, type Cluster } from './cluster.ts';

let cluster: Cluster;
beforeAll(async () => {
  cluster = await startCluster();
});
afterAll(async () => {
  await cluster.close();
});

/** The value of one sample line, e.g. `name{label="x"}`. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

it('control plane: event head, packages by status, live data planes, committed events', async () => {
  const before = await (await fetch(`${cluster.controlPlane.url}/metrics`)).text();
  const pkg = await cluster.createPackage();
  const put = await fetch(`${cluster.dataPlane.url}/packages/${pkg}/files/a.bin`, { method: 'PUT', body: bytesOf(100), headers: { authorization: `Bearer ${TOKEN_A}` } });
  expect(put.status).toBe(201);
  await cluster.registry.finalizePackage({ packageId: pkg });
  const res = await fetch(`${cluster.controlPlane.url}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
  const text = await res.text();
  const head = (await cluster.registry.listEvents({ since: 0n, limit: 1 })).headSequence;
  expect(sample(text, 'artifactstore_event_log_head_sequence')).toBe(Number(head));
  expect(sample(text, 'artifactstore_packages{status="finalized"}')).toBe((sample(before, 'artifactstore_packages{status="finalized"}') ?? 0) + 1);
  expect(sample(text, 'artifactstore_data_planes_live')).toBe(1);
  expect(sample(text, 'artifactstore_events_committed_total{type="v1.file.added"}')).toBe((sample(before, 'artifactstore_events_committed_total{type="v1.file.added"}') ?? 0) + 1);
  expect(sample(text, 'artifactstore_storage_failed_locations')).toBe(0);
  expect(text).toContain('artifactstore_process_resident_memory_bytes');
  expect((await fetch(`${cluster.controlPlane.url}/metrics`, { method: 'POST' })).status).toBe(405);
});

it('data plane: requests by route, method and status, and their durations', async () => {
  const pkg = await cluster.createPackage();
  const auth = { authorization: `Bearer ${TOKEN_A}` };
  expect((await fetch(`${cluster.dataPlane.url}/packages/${pkg}/files/b.bin`, { method: 'PUT', body: bytesOf(5000), headers: auth })).status).toBe(201);
  const got = await fetch(`${cluster.dataPlane.url}/packages/${pkg}/files/b.bin`, { headers: auth });
  expect((await got.arrayBuffer()).byteLength).toBe(5000);
  expect((await fetch(`${cluster.dataPlane.url}/packages/${pkg}/files/missing.bin`, { headers: auth })).status).toBe(404);
  const text = await (await fetch(`${cluster.dataPlane.url}/metrics`)).text();
  expect(sample(text, 'artifactstore_http_requests_total{route="package-file",method="PUT",status="201"}')).toBeGreaterThanOrEqual(1);
  expect(sample(text, 'artifactstore_http_requests_total{route="package-file",method="GET",status="404"}')).toBe(1);
  expect(text).toContain('artifactstore_http_request_seconds_bucket');
});
