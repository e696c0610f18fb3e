/**
 * Commit-to-`WatchEvents` latency (issue 3): a `RegistryService.WatchEvents` stream (gRPC, h2c) is open
 * from the log head; then `CreatePackage` is called 1,000 × `--size` / 1 GiB times, one after another
 * (Connect, HTTP/1.1, as the CLI calls it). Each latency runs from just before the call — an upper bound
 * on the commit time — to the `v1.package.created` event arriving on the stream, so it includes the RPC
 * itself. On a throwaway PostgreSQL database (the target, p99 < 50 ms) and, for comparison, on PGlite.
 * The RPC's own round trip is reported beside it.
 */
import type { BenchCase, BenchSuite, BenchTarget } from './bench-case.ts';
import { randomChunk, scaled, sha256Baseline } from './byte-source.ts';
import { registryClient, registryGrpcClient } from './service-clients.ts';
import { startBenchService, type BenchService, type ServiceOptions } from './service-processes.ts';

const BASELINE = 'watch-sha256-inprocess';
/** Longest wait for one event before the run fails. */
const EVENT_TIMEOUT_MS = 10_000;

/** Nearest-rank percentile of `values` (not empty). */
function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

/** Arrival times of `v1.package.created` events by package id, with waiters for ones not yet seen. */
function createArrivals(): { record(packageId: string): void; wait(packageId: string): Promise<number> } {
  const arrived = new Map<string, number>();
  const waiting = new Map<string, (at: number) => void>();
  return {
    record(packageId) {
      const at = performance.now();
      arrived.set(packageId, at);
      waiting.get(packageId)?.(at);
    },
    wait(packageId) {
      const at = arrived.get(packageId);
      if (at !== undefined) return Promise.resolve(at);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no v1.package.created event for ${packageId} within ${EVENT_TIMEOUT_MS} ms`)), EVENT_TIMEOUT_MS);
        waiting.set(packageId, (time) => {
          clearTimeout(timer);
          waiting.delete(packageId);
          resolve(time);
        });
      });
    },
  };
}

/** Runs `count` sequential mutations against an open stream; returns the latencies in ms. */
async function measure(service: BenchService, count: number, subject: string): Promise<{ event: number[]; rpc: number[] }> {
  const registry = registryClient(service);
  const { headSequence } = await registry.listEvents({ since: 0n, limit: 1 });
  const arrivals = createArrivals();
  const abort = new AbortController();
  const stream = registryGrpcClient(service).watchEvents({ since: headSequence }, { signal: abort.signal });
  const consumer = (async () => {
    try {
      for await (const { event } of stream) if (event?.type === 'v1.package.created') arrivals.record(event.packageId);
    } catch (error) {
      if (!abort.signal.aborted) throw error;
    }
  })();
  const event: number[] = [];
  const rpc: number[] = [];
  try {
    const create = async (): Promise<{ start: number; answered: number; packageId: string }> => {
      const start = performance.now();
      const { package: created } = await registry.createPackage({ producer: 'bench', subject, retentionClass: 'transient', metadata: { bench: 'watch' } });
      if (created === undefined) throw new Error('CreatePackage returned no package');
      return { start, answered: performance.now(), packageId: created.packageId };
    };
    // The first mutation proves the stream is open and caught up; it is not counted.
    await arrivals.wait((await create()).packageId);
    for (let i = 0; i < count; i++) {
      const { start, answered, packageId } = await create();
      event.push((await arrivals.wait(packageId)) - start);
      rpc.push(answered - start);
    }
  } finally {
    abort.abort();
    await consumer;
  }
  return { event, rpc };
}

function latencyCase(name: string, database: ServiceOptions['database'], count: number): BenchCase {
  let service: BenchService | undefined;
  let runs = 0;
  const bound = database === 'postgres' ? { below: 50 } : undefined;
  const metric = (label: string, key: string, withBound: boolean): BenchTarget => ({
    label,
    unit: 'ms',
    digits: 1,
    ...(withBound && bound !== undefined ? { bound } : {}),
    figure: ({ metrics }) => metrics[key] ?? Number.NaN,
  });
  return {
    name,
    description: `${count} sequential CreatePackage calls, each timed from the call to its event on an open WatchEvents stream, ${database === 'pglite' ? 'PGlite (for comparison)' : 'PostgreSQL (target p99 < 50 ms)'}`,
    targets: [metric('p50 call-to-event', 'p50Ms', false), metric('p99 call-to-event', 'p99Ms', true), metric('max call-to-event', 'maxMs', false), metric('p50 CreatePackage RPC', 'rpcP50Ms', false)],
    async setup() {
      service = await startBenchService({ label: name, database, dataPlane: false });
      await measure(service, 20, `${name}-warm-up`); // JIT and connections, untimed
    },
    async run() {
      if (service === undefined) throw new Error(`${name}: not set up`);
      const { event, rpc } = await measure(service, count, `${name}-${++runs}`);
      return { bytes: 0, metrics: { mutations: count, p50Ms: percentile(event, 50), p99Ms: percentile(event, 99), maxMs: Math.max(...event), rpcP50Ms: percentile(rpc, 50) } };
    },
    async teardown() {
      await service?.stop();
    },
  };
}

/** Commit-to-WatchEvents latency on PostgreSQL (and PGlite for comparison). */
export const watchSuite: BenchSuite = {
  name: 'watch',
  createCases({ size }): BenchCase[] {
    const count = scaled(1_000, size, 20);
    return [sha256Baseline(BASELINE, randomChunk(), size), latencyCase('watch-latency-postgres', 'postgres', count), latencyCase('watch-latency-pglite', 'pglite', count)];
  },
};
