/**
 * `artifactstore events tail [--since N] [--follow] [--json]`: the event log from sequence N+1 in
 * order, one line per event (sequence, time, type, package), or JSON lines with the decoded payload
 * and hashes. --follow keeps the WatchEvents stream open and prints events as they commit, until
 * Ctrl-C; when the stream ends or the control plane cannot be reached (a restart), it says so on stderr
 * and reconnects from the last sequence printed, so no event is skipped or printed twice.
 */
import { parseArgs } from 'node:util';
import { timestampDate } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError } from '@connectrpc/connect';
import type { CommandIo } from '../command-io.ts';
import { openConnection } from '../client/connection.ts';
import { decodeCanonical } from '../../core/cbor/canonical.ts';
import type { Event } from '../../gen/artifactstore/v1/event_pb.ts';

function line(event: Event, json: boolean): string {
  const occurredAt = event.occurredAt === undefined ? '' : timestampDate(event.occurredAt).toISOString();
  if (!json) return [String(event.sequence), occurredAt, event.type, event.packageId].join('\t');
  const payload = JSON.parse(JSON.stringify(decodeCanonical(event.payload), (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v))) as unknown;
  return JSON.stringify({ sequence: Number(event.sequence), occurred_at: occurredAt, type: event.type, package_id: event.packageId || null, prev_hash: event.prevHash, hash: event.hash, payload });
}

/** Stream failures worth waiting out (the control plane restarting or unreachable); others are final. */
const RECONNECT_CODES = new Set([Code.Unavailable, Code.Unknown, Code.Internal, Code.Canceled, Code.Aborted, Code.DeadlineExceeded]);
const RECONNECT_FIRST_MS = 500;
const RECONNECT_MAX_MS = 10_000;

/** Waits `ms`; false when `signal` fired first. */
function pause(ms: number, signal: AbortSignal | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) return resolve(false);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Runs `events tail ...`; returns the exit status. */
export async function eventsCommand(io: CommandIo, args: readonly string[], signal?: AbortSignal): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== 'tail') {
    io.err(`usage: artifactstore events tail [--since N] [--follow] [--json] (unknown subcommand ${JSON.stringify(sub ?? '')})`);
    return 2;
  }
  const { values } = parseArgs({ args: rest, strict: true, options: { since: { type: 'string', default: '0' }, follow: { type: 'boolean', default: false }, json: { type: 'boolean', default: false }, url: { type: 'string' }, token: { type: 'string' } } });
  if (!/^\d{1,15}$/.test(values.since)) {
    io.err(`events tail: --since must be a sequence number (got ${JSON.stringify(values.since)})`);
    return 2;
  }
  const conn = await openConnection({ url: values.url, token: values.token, env: io.env });
  let since = BigInt(values.since);
  if (values.follow) {
    for (let failures = 0; ; ) {
      let why: string;
      try {
        for await (const res of conn.registry.watchEvents({ since }, signal === undefined ? {} : { signal })) {
          if (res.event === undefined) continue;
          io.out(line(res.event, values.json));
          since = res.event.sequence;
          failures = 0;
        }
        why = 'the control plane ended the stream';
      } catch (error) {
        if (signal?.aborted === true) return 0;
        const connect = ConnectError.from(error);
        if (!RECONNECT_CODES.has(connect.code)) throw error;
        why = connect.rawMessage;
      }
      if (signal?.aborted === true) return 0;
      const waitMs = Math.min(RECONNECT_MAX_MS, RECONNECT_FIRST_MS * 2 ** failures++);
      io.err(`events tail: ${why}; reconnecting from sequence ${since} in ${waitMs / 1000} s`);
      if (!(await pause(waitMs, signal))) return 0;
    }
  }
  for (;;) {
    const page = await conn.registry.listEvents({ since, limit: 1000 });
    for (const event of page.events) {
      io.out(line(event, values.json));
      since = event.sequence;
    }
    if (page.events.length === 0 || since >= page.headSequence) return 0;
  }
}
