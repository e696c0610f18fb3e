/**
 * RegistryService handlers: translate requests to registry calls and records to responses. The auth
 * interceptor has already decided who the caller is (`callerOf`); errors leave through the error
 * interceptor (errors.ts).
 */
import type { ServiceImpl } from '@connectrpc/connect';
import { toJson } from '@bufbuild/protobuf';
import { durationMs, ValueSchema } from '@bufbuild/protobuf/wkt';
import { callerOf } from '../auth/auth-interceptor.ts';
import type { EventFeed } from '../events/event-feed.ts';
import type { Registry } from '../registry/registry.ts';
import { RegistryError } from '../registry/registry-error.ts';
import type { RegistryService } from '../../gen/artifactstore/v1/registry_service_pb.ts';
import { ManifestFormat } from '../../gen/artifactstore/v1/registry_service_pb.ts';
import { eventToProto, fileToProto, packageToProto, requestTime, safeNumber, statusFromProto } from './convert.ts';
import { renderManifest } from './manifest-format.ts';

/** Longest ListEvents wait. */
export const MAX_EVENT_WAIT_MS = 60_000;
/** Events per WatchEvents read. */
const WATCH_BATCH = 500;
/** How long a caught-up WatchEvents sleeps before re-checking (it is woken sooner by commits). */
const WATCH_IDLE_MS = 30_000;

/** What the handlers need. */
export interface RegistryServiceDeps {
  readonly registry: Registry;
  readonly feed: EventFeed;
  /** Aborts when the server shuts down, ending long polls and streams. */
  readonly shutdown: AbortSignal;
}

function writerTenant(tenant: string | undefined): string {
  if (tenant === undefined) throw new RegistryError('failed-precondition', 'this caller cannot create packages');
  return tenant;
}

/** Creates the RegistryService implementation. */
export function createRegistryService(deps: RegistryServiceDeps): ServiceImpl<typeof RegistryService> {
  const { registry, feed } = deps;

  return {
    async createPackage(req, ctx) {
      const caller = callerOf(ctx);
      const pkg = await registry.createPackage({ tenant: writerTenant(caller.tenant), producer: req.producer, subject: req.subject, retentionClass: req.retentionClass, metadata: req.metadata ?? {} });
      return { package: packageToProto(pkg) };
    },

    async getPackage(req, ctx) {
      return { package: packageToProto(await registry.getPackage(callerOf(ctx).scope, req.packageId)) };
    },

    async listPackages(req, ctx) {
      const status = statusFromProto(req.status);
      const page = await registry.listPackages(
        callerOf(ctx).scope,
        {
          producer: req.producer,
          subject: req.subject,
          retentionClass: req.retentionClass,
          ...(status === undefined ? {} : { status }),
          metadata: req.metadata.map((m) => ({ key: m.key, value: (m.value === undefined ? null : toJson(ValueSchema, m.value)) })),
          ...(req.deletionEligible === undefined ? {} : { deletionEligible: req.deletionEligible }),
          ...(req.expiresBefore === undefined ? {} : { expiresBefore: requestTime('expires_before', req.expiresBefore) }),
          ...(req.onHold === undefined ? {} : { onHold: req.onHold }),
        },
        { pageSize: req.pageSize, pageToken: req.pageToken },
      );
      return { packages: page.items.map(packageToProto), nextPageToken: page.nextPageToken };
    },

    async finalizePackage(req, ctx) {
      const result = await registry.finalizePackage({ tenant: callerOf(ctx).scope, packageId: req.packageId, provenance: req.provenance ?? {} });
      return { package: packageToProto(result.package), manifestDigest: result.package.manifestDigest ?? '' };
    },

    async getManifest(req, ctx) {
      const format = req.format === ManifestFormat.JSON ? 'json' : req.format === ManifestFormat.CBOR || req.format === ManifestFormat.UNSPECIFIED ? 'cbor' : undefined;
      if (format === undefined) throw new RegistryError('invalid-argument', `unknown manifest format ${req.format}`);
      const rendered = renderManifest(await registry.getManifestBytes(callerOf(ctx).scope, req.packageId), format);
      return { manifest: rendered.bytes, manifestDigest: rendered.digest, contentType: rendered.contentType };
    },

    async listFiles(req, ctx) {
      const page = await registry.listFilesPage(callerOf(ctx).scope, req.packageId, { pageSize: req.pageSize, pageToken: req.pageToken });
      return { files: page.items.map(fileToProto), nextPageToken: page.nextPageToken };
    },

    async getFile(req, ctx) {
      const scope = callerOf(ctx).scope;
      if (req.fileId !== '' && (req.packageId !== '' || req.relativePath !== '')) throw new RegistryError('invalid-argument', 'give either file_id, or package_id and relative_path');
      const ref = req.fileId !== '' ? { fileId: req.fileId } : { packageId: req.packageId, relativePath: req.relativePath };
      return { file: fileToProto(await registry.getFile(scope, ref)) };
    },

    async listEvents(req, ctx) {
      const scope = callerOf(ctx).scope;
      const limit = req.limit === 0 ? 100 : Math.min(req.limit, 1000);
      const waitMs = req.wait === undefined ? 0 : Math.min(durationMs(req.wait), MAX_EVENT_WAIT_MS);
      if (waitMs < 0) throw new RegistryError('invalid-argument', 'wait must not be negative');
      const signal = AbortSignal.any([ctx.signal, deps.shutdown]);
      const deadline = performance.now() + waitMs;
      let after = safeNumber('since', req.since);
      for (;;) {
        const slice = await feed.read(scope, after, limit);
        const remaining = deadline - performance.now();
        if (slice.events.length > 0 || remaining <= 0 || signal.aborted) return { events: slice.events.map(eventToProto), headSequence: BigInt(slice.head) };
        after = slice.scannedTo;
        await feed.waitForHead(after, { timeoutMs: remaining, signal });
      }
    },

    async *watchEvents(req, ctx) {
      const scope = callerOf(ctx).scope;
      const signal = AbortSignal.any([ctx.signal, deps.shutdown]);
      let after = safeNumber('since', req.since);
      while (!signal.aborted) {
        const slice = await feed.read(scope, after, WATCH_BATCH);
        for (const event of slice.events) yield { event: eventToProto(event) };
        after = slice.scannedTo;
        if (slice.events.length < WATCH_BATCH) await feed.waitForHead(after, { timeoutMs: WATCH_IDLE_MS, signal });
      }
    },
  };
}
