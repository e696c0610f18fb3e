/**
 * `artifactstore health`: asks the control plane's `/healthz` and says what it found. Exit status:
 * 0 ok, 1 degraded (no live data plane, or a stored copy failed verification), 2 unavailable or
 * unreachable.
 */
import { parseArgs } from 'node:util';
import type { CommandIo } from '../command-io.ts';
import { openConnection } from '../client/connection.ts';

interface Health {
  readonly status?: string;
  readonly database?: { readonly ok?: boolean };
  readonly data_planes?: readonly { readonly id?: string; readonly url?: string; readonly backend_id?: string }[];
  readonly storage?: { readonly failed_locations?: number };
  readonly problems?: readonly string[];
}

/** Runs `health [--json] [--url URL] [--token TOKEN]`. */
export async function healthCommand(io: CommandIo, args: readonly string[]): Promise<number> {
  const { values } = parseArgs({ args: [...args], strict: true, options: { json: { type: 'boolean', default: false }, url: { type: 'string' }, token: { type: 'string' } } });
  const conn = await openConnection({ url: values.url, token: values.token, env: io.env });
  let res: Response;
  try {
    res = await fetch(`${conn.url}/healthz`, { headers: conn.authHeaders(), signal: AbortSignal.timeout(10_000) });
  } catch (error) {
    io.err(`health: cannot reach ${conn.url} (${error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : String(error)})`);
    return 2;
  }
  const health = (await res.json().catch(() => ({}))) as Health;
  if (values.json) io.out(JSON.stringify(health));
  // A control plane's /healthz always reports its database; a data plane's (or another server's) does not.
  if (health.database === undefined) {
    io.err(`health: ${conn.url}/healthz answered ${res.status} without a database: not a control plane (a data plane's URL?); --url and ARTIFACTSTORE_URL take the control plane's URL (port 8000 by default)`);
    return 2;
  }
  if (!values.json) {
    const planes = health.data_planes ?? [];
    io.out(`status: ${health.status ?? `HTTP ${res.status}`}`);
    io.out(`database: ${health.database.ok === true ? 'ok' : 'unavailable'}`);
    io.out(`data planes: ${planes.length === 0 ? 'none alive (uploads and downloads cannot work)' : planes.map((p) => `${p.id ?? '?'} ${p.url ?? '?'} (backend ${p.backend_id ?? '?'})`).join(', ')}`);
    if (health.storage !== undefined) io.out(`failed storage locations: ${health.storage.failed_locations ?? 0}`);
    for (const problem of health.problems ?? []) io.out(`problem: ${problem}`);
  }
  if (health.status === 'ok') return 0;
  return health.status === 'degraded' ? 1 : 2;
}
