/**
 * RetentionService handlers: translate requests to registry calls and records to responses. The auth
 * interceptor has decided who the caller is and what it may do (`callerOf`): changes are `write`
 * calls scoped to the caller's tenant, SweepRetention is admin-only; errors leave through the error
 * interceptor (errors.ts).
 */
import type { ServiceImpl } from '@connectrpc/connect';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { parseTimestamp } from '../../core/time/clock.ts';
import { callerOf } from '../auth/auth-interceptor.ts';
import type { Caller } from '../auth/authenticator.ts';
import type { Registry } from '../registry/registry.ts';
import { RegistryError } from '../registry/registry-error.ts';
import { HistoryFormat, type RetentionService } from '../../gen/artifactstore/v1/retention_service_pb.ts';
import { eventToProto, requestTime } from './convert.ts';
import { holdToProto, retentionToProto } from './retention-convert.ts';
import { renderRetentionHistory } from './retention-history-format.ts';

/** What the handlers need. */
export interface RetentionServiceDeps {
  readonly registry: Registry;
}

/** The name recorded as the actor of a change: the token's name. */
function actorOf(caller: Caller): string {
  if (caller.principal.kind !== 'client') throw new RegistryError('failed-precondition', 'retention changes need a client token');
  return caller.principal.identity.name;
}

/** Creates the RetentionService implementation. */
export function createRetentionService(deps: RetentionServiceDeps): ServiceImpl<typeof RetentionService> {
  const { registry } = deps;

  return {
    async extendRetention(req, ctx) {
      const caller = callerOf(ctx);
      const result = await registry.extendRetention({
        tenant: caller.scope,
        packageId: req.packageId,
        newExpiresAt: req.newExpiresAt === undefined ? undefined : requestTime('new_expires_at', req.newExpiresAt),
        reason: req.reason,
        actor: actorOf(caller),
      });
      return { retention: retentionToProto(result.retention) };
    },

    async applyHold(req, ctx) {
      const caller = callerOf(ctx);
      const result = await registry.applyHold({ tenant: caller.scope, packageId: req.packageId, reason: req.reason, actor: actorOf(caller) });
      return { hold: holdToProto(result.hold), retention: retentionToProto(result.retention) };
    },

    async releaseHold(req, ctx) {
      const caller = callerOf(ctx);
      const result = await registry.releaseHold({ tenant: caller.scope, packageId: req.packageId, holdId: req.holdId, reason: req.reason, actor: actorOf(caller) });
      return { hold: holdToProto(result.hold), retention: retentionToProto(result.retention) };
    },

    async getRetention(req, ctx) {
      return { retention: retentionToProto(await registry.getRetention(callerOf(ctx).scope, req.packageId)) };
    },

    async getRetentionHistory(req, ctx) {
      const format = req.format === HistoryFormat.CBOR ? 'cbor' : req.format === HistoryFormat.JSON || req.format === HistoryFormat.UNSPECIFIED ? 'json' : undefined;
      if (format === undefined) throw new RegistryError('invalid-argument', `unknown history format ${req.format}`);
      const events = await registry.getRetentionHistory(callerOf(ctx).scope, req.packageId);
      const doc = renderRetentionHistory(events, format);
      return { events: events.map(eventToProto), document: doc.bytes, contentType: doc.contentType };
    },

    async sweepRetention(req, ctx) {
      const result = await registry.sweepRetention({ asOf: req.asOf === undefined ? undefined : requestTime('as_of', req.asOf), dryRun: req.dryRun, signal: ctx.signal });
      return { newlyEligible: result.newlyEligible, newlyIneligible: result.newlyIneligible, asOf: timestampFromDate(parseTimestamp(result.asOf)), dryRun: result.dryRun };
    },
  };
}
