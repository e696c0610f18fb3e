/**
 * A data plane's Prometheus metrics (`GET /metrics`, text exposition format, prom-client): its byte
 * routes by route, method and status and their durations, plus prom-client's process
 * and runtime metrics. Counters count since the process started.
 *
 * | metric | kind | meaning |
 * |---|---|---|
 * | `artifactstore_http_requests_total{route,method,status}` | counter | byte-route requests answered |
 * | `artifactstore_http_request_seconds{route,method}` | histogram | time to answer, body included |
 * | `artifactstore_storage_sync_behind_seconds{backend}` | histogram | a local backend's syncs behind of large objects' staged bytes (ADR 0017) |
 * | `artifactstore_process_*`, `nodejs_*` | | prom-client's process and runtime metrics |
 */
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { HttpRequest, HttpResponse } from './http-io.ts';

/** The metrics of one data plane. */
export interface DataPlaneMetrics {
  /** Text exposition of every metric. */
  render(): Promise<{ contentType: string; body: string }>;
  /** Starts timing a request of `route`; its outcome is recorded when the response finishes or closes. */
  observe(route: string, req: HttpRequest, res: HttpResponse): void;
  /** Records one sync behind of local backend `backendId` that took `seconds`. */
  observeSyncBehind(backendId: string, seconds: number): void;
}

/** Creates the metrics on a registry of their own (tests run several data planes in one process). */
export function createDataPlaneMetrics(): DataPlaneMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'artifactstore_' });
  const requests = new Counter({ name: 'artifactstore_http_requests_total', help: 'Byte-route requests answered, by route, method and status.', labelNames: ['route', 'method', 'status'], registers: [registry] });
  const seconds = new Histogram({
    name: 'artifactstore_http_request_seconds',
    help: 'Time to answer a byte-route request, body included.',
    labelNames: ['route', 'method'],
    buckets: [0.005, 0.025, 0.1, 0.5, 2.5, 10, 60, 300],
    registers: [registry],
  });
  const syncBehind = new Histogram({
    name: 'artifactstore_storage_sync_behind_seconds',
    help: 'Time of each fdatasync a local backend runs behind a large upload (every 64 MiB written), by backend.',
    labelNames: ['backend'],
    buckets: [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [registry],
  });
  return {
    observeSyncBehind(backendId, seconds) {
      syncBehind.observe({ backend: backendId }, seconds);
    },
    async render() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
    observe(route, req, res) {
      const method = req.method ?? 'GET';
      const stop = seconds.startTimer({ route, method });
      let done = false;
      const finish = (): void => {
        if (done) return;
        done = true;
        stop();
        requests.inc({ route, method, status: String(res.statusCode) });
      };
      res.once('finish', finish);
      res.once('close', finish);
    },
  };
}
