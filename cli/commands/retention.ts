/**
 * `artifactstore retention extend|hold|release|sweep|history|show`: the RetentionService from the
 * command line. Each subcommand is one RPC (extend --by reads the current expiry first) and prints a
 * short line, or JSON with --json. Errors come back from the service with their stable reason.
 */
import { writeFile } from 'node:fs/promises';
import { timestampDate, timestampFromDate, type Timestamp } from '@bufbuild/protobuf/wkt';
import { HistoryFormat, type Hold, type RetentionState } from '../../gen/artifactstore/v1/retention_service_pb.ts';
import type { CommandIo } from '../command-io.ts';
import { openConnection } from '../client/connection.ts';

/** Connection flags every subcommand takes. */
export interface RetentionConnectionOptions {
  readonly url?: string | undefined;
  readonly token?: string | undefined;
  readonly json: boolean;
}

/** A parsed retention subcommand. */
export type RetentionCommand =
  | ({ readonly kind: 'extend'; readonly packageId: string; readonly reason: string } & ({ readonly until: Date } | { readonly byMs: number }))
  | { readonly kind: 'hold'; readonly packageId: string; readonly reason: string }
  | { readonly kind: 'release'; readonly packageId: string; readonly holdId: string; readonly reason: string }
  | { readonly kind: 'sweep'; readonly asOf?: Date | undefined; readonly dryRun: boolean }
  | { readonly kind: 'history'; readonly packageId: string; readonly format: 'json' | 'cbor'; readonly output?: string | undefined }
  | { readonly kind: 'show'; readonly packageId: string };

function iso(t: Timestamp | undefined): string | null {
  return t === undefined ? null : timestampDate(t).toISOString();
}

function holdJson(h: Hold): Record<string, unknown> {
  return { hold_id: h.holdId, reason: h.reason, actor: h.actor, applied_at: iso(h.appliedAt), released_at: iso(h.releasedAt), released_by: h.releasedBy || null, release_reason: h.releaseReason || null };
}

function stateJson(r: RetentionState | undefined): Record<string, unknown> {
  if (r === undefined) return {};
  return {
    package_id: r.packageId,
    retention_class: r.retentionClass,
    expires_at: iso(r.expiresAt),
    deletion_eligible: r.deletionEligible,
    eligible_since: iso(r.eligibleSince),
    holds: r.holds.map(holdJson),
  };
}

function stateLine(r: RetentionState | undefined): string {
  if (r === undefined) return '';
  const expiry = iso(r.expiresAt) ?? 'never';
  const eligible = r.deletionEligible ? `eligible for deletion since ${iso(r.eligibleSince)}` : 'not eligible for deletion';
  return `${r.packageId} ${r.retentionClass} expires ${expiry}; ${r.holds.length} active hold(s); ${eligible}`;
}

/** Runs one retention subcommand; returns the exit code. */
export async function retentionCommand(io: CommandIo, command: RetentionCommand, options: RetentionConnectionOptions): Promise<number> {
  const conn = await openConnection({ url: options.url, token: options.token, env: io.env });
  const client = conn.retention;
  const print = (json: unknown, line: string): void => io.out(options.json ? JSON.stringify(json) : line);
  switch (command.kind) {
    case 'extend': {
      let target: Date;
      if ('until' in command) target = command.until;
      else {
        const current = (await client.getRetention({ packageId: command.packageId })).retention;
        if (current?.expiresAt === undefined) throw new TypeError(`${command.packageId} never expires; there is nothing to extend`);
        target = new Date(timestampDate(current.expiresAt).getTime() + command.byMs);
      }
      const res = await client.extendRetention({ packageId: command.packageId, newExpiresAt: timestampFromDate(target), reason: command.reason });
      print(stateJson(res.retention), stateLine(res.retention));
      return 0;
    }
    case 'hold': {
      const res = await client.applyHold({ packageId: command.packageId, reason: command.reason });
      print({ hold: res.hold === undefined ? null : holdJson(res.hold), retention: stateJson(res.retention) }, res.hold?.holdId ?? '');
      return 0;
    }
    case 'release': {
      const res = await client.releaseHold({ packageId: command.packageId, holdId: command.holdId, reason: command.reason });
      print({ hold: res.hold === undefined ? null : holdJson(res.hold), retention: stateJson(res.retention) }, stateLine(res.retention));
      return 0;
    }
    case 'sweep': {
      const asOf = command.asOf === undefined ? undefined : timestampFromDate(command.asOf);
      const res = await client.sweepRetention({ ...(asOf === undefined ? {} : { asOf }), dryRun: command.dryRun });
      const summary = { as_of: iso(res.asOf), dry_run: res.dryRun, newly_eligible: res.newlyEligible, newly_ineligible: res.newlyIneligible };
      const verb = res.dryRun ? 'would mark' : 'marked';
      print(summary, [`sweep as of ${summary.as_of}${res.dryRun ? ' (dry run, nothing written)' : ''}: ${verb} ${res.newlyEligible.length} package(s) eligible for deletion`, ...res.newlyEligible].join('\n'));
      return 0;
    }
    case 'history': {
      const res = await client.getRetentionHistory({ packageId: command.packageId, format: command.format === 'cbor' ? HistoryFormat.CBOR : HistoryFormat.JSON });
      if (command.output !== undefined) {
        await writeFile(command.output, res.document);
        io.err(`wrote ${res.document.length} bytes of ${res.contentType} (${res.events.length} events) to ${command.output}`);
      } else io.out(new TextDecoder().decode(res.document));
      return 0;
    }
    case 'show': {
      const res = await client.getRetention({ packageId: command.packageId });
      print(stateJson(res.retention), [stateLine(res.retention), ...(res.retention?.holds ?? []).map((h) => `  hold ${h.holdId} by ${h.actor} at ${iso(h.appliedAt)}: ${h.reason}`)].join('\n'));
      return 0;
    }
  }
}
