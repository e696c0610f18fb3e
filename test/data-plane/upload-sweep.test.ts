// The upload sweep expires abandoned sessions nobody asks about again: once a session is purgeable
// (deadline and grace period passed) the sweep deletes its parts, then records `v1.upload.expired`.
// Sessions still resumable or in their grace period, and closed ones, keep what they have. Real
// processes; the control plane's clock is moved instead of waiting a day.
import { Code, ConnectError, createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSystemClock, type Clock } from '../../core/time/clock.ts';
import { UPLOAD_EXPIRY_GRACE_MS } from '../../control-plane/registry/upload-sessions.ts';
import { createControlTransport } from '../../data-plane/control/control-client.ts';
import { startUploadSweeper, sweepUploads } from '../../data-plane/files/upload-sweep.ts';
import type { StorageBackend } from '../../data-plane/storage/backend.ts';
import { UploadSweepService } from '../../gen/artifactstore/internal/v1/upload_sweep_service_pb.ts';
import { rejectionOf } from '../support/rejection.ts';
import { createTestBucket, describeS3, listObjects } from '../support/rgw.ts';
import { createS3Backend } from '../../data-plane/storage/s3/s3-backend.ts';
import { bytesOf, rawRequest, startCluster, TOKEN_A, type Cluster } from './cluster.ts';
import { AUTH_A, openSession, patchChunk, sessionParts, uploadEvents, type OpenedSession } from './upload-client.ts';

const system = createSystemClock();
let shiftMs = 0;
/** The system clock moved forward by `shiftMs`. */
const shifted: Clock = { now: () => new Date(system.now().getTime() + shiftMs) };

let cluster: Cluster;
beforeEach(async () => {
  // A cluster per test, so no test meets another's sessions. The data plane's own periodic sweep is
  // off: each test runs sweeps itself.
  shiftMs = 0;
  cluster = await startCluster({ controlPlaneClock: shifted, uploadSweepIntervalMs: 0 });
});
afterEach(async () => {
  await cluster.close();
});

function internalTransport() {
  return createControlTransport({ baseUrl: cluster.controlPlane.url, internalToken: cluster.controlPlane.internalToken });
}

/** Moves the control plane's clock to just past `session`'s grace period. */
function passGrace(session: OpenedSession): void {
  shiftMs = Date.parse(session.expires_at) + UPLOAD_EXPIRY_GRACE_MS - system.now().getTime() + 1000;
}

/** `backend` with some methods replaced (the others bound to it). */
function overriding(backend: StorageBackend, methods: Partial<Pick<StorageBackend, 'delete' | 'get'>>): StorageBackend {
  return new Proxy(backend, {
    get(target, property, receiver) {
      if (property === 'delete' && methods.delete !== undefined) return methods.delete;
      if (property === 'get' && methods.get !== undefined) return methods.get;
      const value = Reflect.get(target, property, receiver) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** `backend` with `delete` failing while `failing()` holds. */
function failingDeletes(backend: StorageBackend, failing: () => boolean): StorageBackend {
  return overriding(backend, { delete: (key, options) => (failing() ? Promise.reject(new Error(`injected: cannot delete ${key}`)) : backend.delete(key, options)) });
}

/** A backend whose reads of upload parts can be held after the part is opened, as a slow completion's would be. */
function gatedPartReads(backend: StorageBackend): { readonly backend: StorageBackend; hold(): { readonly entered: Promise<void>; release(): void } } {
  let held: { entered: () => void; released: Promise<void> } | undefined;
  return {
    backend: overriding(backend, {
      get: async (key, options) => {
        const stream = await backend.get(key, options); // opened first: a later unlink does not stop the read
        const gate = held;
        if (gate !== undefined && key.startsWith('uploads/')) {
          gate.entered();
          await gate.released;
        }
        return stream;
      },
    }),
    hold() {
      let entered!: () => void;
      let release!: () => void;
      const enteredPromise = new Promise<void>((resolve) => (entered = resolve));
      held = { entered, released: new Promise<void>((resolve) => (release = resolve)) };
      return {
        entered: enteredPromise,
        release: () => {
          held = undefined;
          release();
        },
      };
    },
  };
}

describe('upload sweep', () => {
  it('deletes the parts of purgeable sessions and records their expiry; leaves the rest alone', async () => {
    const pkg = await cluster.createPackage();
    const abandoned = await openSession(cluster, pkg, 'sweep/abandoned.bin');
    expect((await patchChunk(cluster, abandoned.upload_id, bytesOf(3000, 1), 0)).status).toBe(204);
    expect((await patchChunk(cluster, abandoned.upload_id, bytesOf(2000, 2), 3000)).status).toBe(204);
    const other = await openSession(cluster, pkg, 'sweep/other.bin');
    expect((await patchChunk(cluster, other.upload_id, bytesOf(1000, 3), 0)).status).toBe(204);
    const aborted = await openSession(cluster, pkg, 'sweep/aborted.bin');
    expect((await rawRequest(cluster.dataPlane.url, 'DELETE', `/uploads/${aborted.upload_id}`, AUTH_A)).status).toBe(204);
    expect(await sessionParts(cluster, abandoned.upload_id)).toHaveLength(2);

    const backends = new Map([[cluster.backend.id, cluster.backend]]);
    const nothing = { expired: 0, partsDeleted: 0, skipped: 0, errors: [] };
    // Resumable, then expired but in its grace period (a completion may still read the parts): kept.
    expect(await sweepUploads({ backends, transport: internalTransport() })).toEqual(nothing);
    shiftMs = Date.parse(abandoned.expires_at) + UPLOAD_EXPIRY_GRACE_MS - system.now().getTime() - 60_000;
    expect(await sweepUploads({ backends, transport: internalTransport() })).toEqual(nothing);
    expect(await sessionParts(cluster, abandoned.upload_id)).toHaveLength(2);

    passGrace(other);
    // A sweeper holding other backends only leaves the sessions to the data planes that hold their parts.
    expect(await sweepUploads({ backends: new Map([['s3-elsewhere', cluster.backend]]), transport: internalTransport() })).toEqual(nothing);
    expect(await sessionParts(cluster, abandoned.upload_id)).toHaveLength(2);

    const seen: string[] = [];
    const summary = await sweepUploads({ backends, transport: internalTransport(), pageSize: 1, onSession: (s, outcome) => seen.push(`${s.uploadId} ${outcome}`) });
    expect(summary).toEqual({ expired: 2, partsDeleted: 3, skipped: 0, errors: [] });
    expect(seen).toEqual([abandoned.upload_id, other.upload_id].sort().map((id) => `${id} expired`));
    for (const session of [abandoned, other]) {
      expect(await sessionParts(cluster, session.upload_id)).toEqual([]);
      expect(await uploadEvents(cluster, session.upload_id)).toEqual(['v1.upload.created', 'v1.upload.expired']);
    }
    expect(await uploadEvents(cluster, aborted.upload_id)).toEqual(['v1.upload.created', 'v1.upload.aborted']);
    expect(await cluster.storedFiles()).toEqual([]);

    // The client meets the expired session afterwards: 410, as after a lazy expiry.
    expect((await rawRequest(cluster.dataPlane.url, 'HEAD', `/uploads/${abandoned.upload_id}`, AUTH_A)).status).toBe(410);
    // A second sweep finds nothing.
    expect(await sweepUploads({ backends, transport: internalTransport() })).toEqual(nothing);
  });

  it('keeps a session whose parts could not be deleted purgeable, and expires it on the next sweep', async () => {
    const pkg = await cluster.createPackage();
    const session = await openSession(cluster, pkg, 'sweep/stuck.bin');
    expect((await patchChunk(cluster, session.upload_id, bytesOf(4096, 4), 0)).status).toBe(204);
    passGrace(session);
    let failing = true;
    const backends = new Map([[cluster.backend.id, failingDeletes(cluster.backend, () => failing)]]);
    const first = await sweepUploads({ backends, transport: internalTransport() });
    expect(first.expired).toBe(0);
    expect(first.errors).toEqual([{ uploadId: session.upload_id, detail: expect.stringContaining('injected: cannot delete') as unknown }]);
    expect(await sessionParts(cluster, session.upload_id)).toHaveLength(1);
    expect(await uploadEvents(cluster, session.upload_id)).toEqual(['v1.upload.created']);

    failing = false;
    expect(await sweepUploads({ backends, transport: internalTransport() })).toEqual({ expired: 1, partsDeleted: 1, skipped: 0, errors: [] });
    expect(await sessionParts(cluster, session.upload_id)).toEqual([]);
    expect(await uploadEvents(cluster, session.upload_id)).toEqual(['v1.upload.created', 'v1.upload.expired']);
  });

  it('runs periodically (startUploadSweeper), logging what it expired', async () => {
    const pkg = await cluster.createPackage();
    const session = await openSession(cluster, pkg, 'sweep/periodic.bin');
    expect((await patchChunk(cluster, session.upload_id, bytesOf(100, 5), 0)).status).toBe(204);
    passGrace(session);
    const lines: string[] = [];
    const sweeper = startUploadSweeper({ backends: new Map([[cluster.backend.id, cluster.backend]]), transport: internalTransport(), intervalMs: 50, log: (line) => lines.push(line) });
    try {
      const deadline = performance.now() + 20_000;
      while (!lines.some((line) => line.includes('1 expired session(s)')) && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      await sweeper.stop();
    }
    expect(lines).toContain('upload sweep: 1 expired session(s), 1 part(s) deleted, 0 skipped, 0 not expired');
    expect(await sessionParts(cluster, session.upload_id)).toEqual([]);
    expect(await uploadEvents(cluster, session.upload_id)).toEqual(['v1.upload.created', 'v1.upload.expired']);
  });

  it('is run by every data plane on its own, every ARTIFACTSTORE_UPLOAD_SWEEP_INTERVAL', async () => {
    await cluster.close();
    cluster = await startCluster({ controlPlaneClock: shifted, uploadSweepIntervalMs: 100 });
    const pkg = await cluster.createPackage();
    const session = await openSession(cluster, pkg, 'sweep/by-the-data-plane.bin');
    expect((await patchChunk(cluster, session.upload_id, bytesOf(700, 6), 0)).status).toBe(204);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await sessionParts(cluster, session.upload_id)).toHaveLength(1);
    passGrace(session);
    const deadline = performance.now() + 20_000;
    while ((await sessionParts(cluster, session.upload_id)).length > 0 && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await sessionParts(cluster, session.upload_id)).toEqual([]);
    while ((await uploadEvents(cluster, session.upload_id)).length < 2 && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await uploadEvents(cluster, session.upload_id)).toEqual(['v1.upload.created', 'v1.upload.expired']);
  });

  /**
   * Restarts the cluster with part reads that can be held, uploads `data` into a new session at `path`,
   * starts its completion in time and holds it while it reads the part, then moves the clock past the
   * grace period.
   */
  async function slowCompletion(path: string, data: Uint8Array) {
    await cluster.close();
    let gated!: ReturnType<typeof gatedPartReads>;
    cluster = await startCluster({ controlPlaneClock: shifted, uploadSweepIntervalMs: 0, wrapBackend: (backend) => (gated = gatedPartReads(backend)).backend });
    const packageId = await cluster.createPackage();
    const session = await openSession(cluster, packageId, path);
    expect((await patchChunk(cluster, session.upload_id, data, 0)).status).toBe(204);
    const hold = gated.hold();
    const completing = rawRequest(cluster.dataPlane.url, 'POST', `/uploads/${session.upload_id}/complete`, AUTH_A);
    await hold.entered;
    passGrace(session);
    return { packageId, session, hold, completing };
  }

  it('refuses the file of a completion that outlasted the grace period when the sweep recorded the expiry first', async () => {
    const data = bytesOf(5000, 7);
    const { packageId, session, hold, completing } = await slowCompletion('sweep/slow-completion.bin', data);
    const summary = await sweepUploads({ backends: new Map([[cluster.backend.id, cluster.backend]]), transport: internalTransport() });
    expect(summary).toEqual({ expired: 1, partsDeleted: 1, skipped: 0, errors: [] });
    hold.release();
    const done = await completing;
    expect(done.status, done.body.toString()).toBe(410);
    expect((JSON.parse(done.body.toString()) as { code: string }).code).toBe('upload-expired');
    expect((await cluster.registry.listFiles({ packageId })).files).toEqual([]);
    expect(await uploadEvents(cluster, session.upload_id)).toEqual(['v1.upload.created', 'v1.upload.completing', 'v1.upload.expired']);
  });

  it('skips a session a completion closed between the sweep deleting its parts and recording its expiry', async () => {
    const { session, hold, completing } = await slowCompletion('sweep/raced.bin', bytesOf(3000, 8));
    const backend = cluster.backend;
    // After deleting the part, the sweeper lets the completion finish before it records the expiry.
    const sweeperBackend = overriding(backend, {
      delete: async (key, options) => {
        await backend.delete(key, options);
        hold.release();
        expect((await completing).status).toBe(201);
      },
    });
    const outcomes: string[] = [];
    const summary = await sweepUploads({ backends: new Map([[backend.id, sweeperBackend]]), transport: internalTransport(), onSession: (_s, outcome) => outcomes.push(outcome) });
    expect(summary).toEqual({ expired: 0, partsDeleted: 1, skipped: 1, errors: [] });
    expect(outcomes).toEqual(['skipped']);
    expect(await uploadEvents(cluster, session.upload_id)).toEqual(['v1.upload.created', 'v1.upload.completing', 'v1.upload.completed']);
  });

  it('answers the internal token only', async () => {
    const asTenant = createClient(UploadSweepService, createConnectTransport({ baseUrl: cluster.controlPlane.url, httpVersion: '1.1', interceptors: [(next) => (req) => (req.header.set('authorization', `Bearer ${TOKEN_A}`), next(req))] }));
    const refused = await rejectionOf(asTenant.listPurgeableUploads({}), ConnectError);
    expect([Code.PermissionDenied, Code.Unauthenticated]).toContain(refused.code);
    const record = await rejectionOf(asTenant.recordUploadExpired({ uploadId: 'upload_01JD0000000000000000000000' }), ConnectError);
    expect([Code.PermissionDenied, Code.Unauthenticated]).toContain(record.code);
    // Recording the expiry of a session that is not purgeable is refused, naming when it will be.
    const pkg = await cluster.createPackage();
    const fresh = await openSession(cluster, pkg, 'sweep/fresh.bin');
    const internal = createClient(UploadSweepService, internalTransport());
    const early = await rejectionOf(internal.recordUploadExpired({ uploadId: fresh.upload_id }), ConnectError);
    expect(early.code).toBe(Code.FailedPrecondition);
    expect(early.rawMessage).toContain(`expires at ${fresh.expires_at}`);
  });
});

describeS3('upload sweep on Ceph RGW', () => {
  it('deletes the parts of a purgeable session stored in a bucket, then records its expiry', async () => {
    const bucket = await createTestBucket('sweep');
    try {
      await cluster.close();
      cluster = await startCluster({ controlPlaneClock: shifted, uploadSweepIntervalMs: 0, wrapBackend: () => createS3Backend({ id: 'rgw', ...bucket.endpoint, bucket: bucket.bucket, keyPrefix: 'store' }) });
      const session = await openSession(cluster, await cluster.createPackage(), 'sweep/on-rgw.bin');
      expect((await patchChunk(cluster, session.upload_id, bytesOf(4000, 9), 0)).status).toBe(204);
      expect((await patchChunk(cluster, session.upload_id, bytesOf(3000, 10), 4000)).status).toBe(204);
      const parts = (): Promise<string[]> => listObjects(bucket.client, bucket.bucket, `store/uploads/${session.upload_id.toLowerCase()}/`);
      expect(await parts()).toHaveLength(2);
      passGrace(session);
      const summary = await sweepUploads({ backends: new Map([[cluster.backend.id, cluster.backend]]), transport: internalTransport() });
      expect(summary).toEqual({ expired: 1, partsDeleted: 2, skipped: 0, errors: [] });
      expect(await parts()).toEqual([]);
      expect(await uploadEvents(cluster, session.upload_id)).toEqual(['v1.upload.created', 'v1.upload.expired']);
    } finally {
      await bucket.remove(); // the cluster on it is closed by afterEach
    }
  }, 120_000);
});
