/**
 * The control plane's Prometheus metrics (`GET /metrics`, text exposition format, prom-client).
 * State gauges are read from the database when scraped, so they are right after a restart and
 * agree with the views; counters count what this process committed since it started.
 *
 * | metric | kind | meaning |
 * |---|---|---|
 * | `artifactstore_event_log_head_sequence` | gauge | sequence of the newest committed event |
 * | `artifactstore_packages{status}` | gauge | packages by status (created, uploading, finalized, deleted, failed) |
 * | `artifactstore_packages_deletion_eligible` | gauge | packages the retention sweep marked eligible |
 * | `artifactstore_data_planes_live` | gauge | data planes with a recent heartbeat |
 * | `artifactstore_storage_failed_locations` | gauge | stored copies whose last verification failed |
 * | `artifactstore_events_committed_total{type}` | counter | events this process committed |
 * | `artifactstore_process_*`, `nodejs_*` | | prom-client's process and runtime metrics |
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Kysely } from 'kysely';
import type { Schema } from '../db/schema.ts';
import type { StoredEvent } from '../events/event-log.ts';

/** What the metrics read at scrape time. */
export interface ControlPlaneMetricsSources {
  readonly db: Kysely<Schema>;
  readonly liveDataPlanes: () => number;
  /** Copies whose last check failed; absent: the gauge is not exported. */
  readonly failedLocations?: () => Promise<{ readonly count: number }>;
}

/** The metrics of one control plane. */
export interface ControlPlaneMetrics {
  /** Text exposition of every metric. */
  render(): Promise<{ contentType: string; body: string }>;
  /** Counts committed events (wire to the registry's `onCommit`). */
  countCommitted(events: readonly StoredEvent[]): void;
}

const PACKAGE_STATUSES = ['created', 'uploading', 'finalized', 'deleted', 'failed'] as const;

/** Creates the metrics on a registry of their own (several control planes may share a process in tests). */
export function createControlPlaneMetrics(sources: ControlPlaneMetricsSources): ControlPlaneMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'artifactstore_' });
  const { db } = sources;
  new Gauge({
    name: 'artifactstore_event_log_head_sequence',
    help: 'Sequence of the newest committed event.',
    registers: [registry],
    async collect() {
      const row = await db.selectFrom('event_head').select('last_sequence').where('id', '=', 1).executeTakeFirstOrThrow();
      this.set(row.last_sequence);
    },
  });
  new Gauge({
    name: 'artifactstore_packages',
    help: 'Packages by status.',
    labelNames: ['status'],
    registers: [registry],
    async collect() {
      const rows = await db.selectFrom('packages').select(['status', (eb) => eb.fn.countAll<string>().as('n')]).groupBy('status').execute();
      const counts = new Map(rows.map((r) => [r.status, Number(r.n)]));
      for (const status of PACKAGE_STATUSES) this.set({ status }, counts.get(status) ?? 0);
    },
  });
  new Gauge({
    name: 'artifactstore_packages_deletion_eligible',
    help: 'Packages marked eligible for deletion by the retention sweep.',
    registers: [registry],
    async collect() {
      const row = await db.selectFrom('retention_state').select((eb) => eb.fn.countAll<string>().as('n')).where('deletion_eligible', '=', true).executeTakeFirstOrThrow();
      this.set(Number(row.n));
    },
  });
  new Gauge({
    name: 'artifactstore_data_planes_live',
    help: 'Data planes with a recent heartbeat.',
    registers: [registry],
    collect() {
      this.set(sources.liveDataPlanes());
    },
  });
  const failed = sources.failedLocations;
  if (failed !== undefined) {
    new Gauge({
      name: 'artifactstore_storage_failed_locations',
      help: 'Stored copies whose last verification failed (artifactstore storage verify).',
      registers: [registry],
      async collect() {
        this.set((await failed()).count);
      },
    });
  }
  const committed = new Counter({ name: 'artifactstore_events_committed_total', help: 'Events committed by this process, by type.', labelNames: ['type'], registers: [registry] });
  return {
    async render() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
    countCommitted(events) {
      for (const event of events) committed.inc({ type: event.type });
    },
  };
}
