// `archiveSources`: the order of an archive's files, their grouping into `getObjects` calls (split by
// size and backend), a failure in a group read ahead surfacing only after every file before it, and a
// reader that stops early leaving no unhandled rejection behind. Real memory backends; the control
// plane client is the cluster's (archiveSources never calls it).
import { create } from '@bufbuild/protobuf';
import { createClient } from '@connectrpc/connect';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createControlTransport } from '../../data-plane/control/control-client.ts';
import { archiveSources, GROUP_BYTES, GROUP_FILES, GROUPED_FILE_BYTES, type ArchiveSource } from '../../data-plane/files/archive-sources.ts';
import type { DataPlaneDeps } from '../../data-plane/files/data-plane-deps.ts';
import type { ResolvedFile } from '../../data-plane/files/read-file.ts';
import type { GetObjectInput, StorageBackend } from '../../data-plane/storage/backend.ts';
import { createMemoryBackend } from '../../data-plane/storage/memory/memory-backend.ts';
import { ControlService } from '../../gen/artifactstore/internal/v1/control_service_pb.ts';
import { FileSchema } from '../../gen/artifactstore/v1/package_pb.ts';
import { bytesOf, startCluster, type Cluster } from './cluster.ts';

let cluster: Cluster;
beforeAll(async () => {
  cluster = await startCluster();
});
afterAll(async () => {
  await cluster.close();
});

/** A memory backend that records each `getObjects` call, and can hold one call back or make it fail. */
function recording(id: string): { backend: StorageBackend; calls: GetObjectInput[][]; hold: Map<number, { wait: Promise<void>; fail?: Error }> } {
  const inner = createMemoryBackend({ id });
  const calls: GetObjectInput[][] = [];
  const hold = new Map<number, { wait: Promise<void>; fail?: Error }>();
  const backend: StorageBackend = {
    ...inner,
    async getObjects(objects, options) {
      calls.push([...objects]);
      const held = hold.get(calls.length);
      const bytes = await inner.getObjects(objects, options);
      if (held !== undefined) {
        await held.wait;
        if (held.fail !== undefined) throw held.fail;
      }
      return bytes;
    },
  };
  return { backend, calls, hold };
}

function depsWith(backend: StorageBackend, others: StorageBackend[] = []): DataPlaneDeps {
  const control = createClient(ControlService, createControlTransport({ baseUrl: cluster.controlPlane.url, internalToken: cluster.controlPlane.internalToken }));
  return { control, backend, backends: new Map([backend, ...others].map((b) => [b.id, b])), hashPool: cluster.hashPool, maxUploadBytes: 1 << 30, log: () => undefined };
}

/** Stores `bytes` in `backend` under a key of its own; the file as the control plane would resolve it. */
async function stored(backend: StorageBackend, name: string, bytes: Uint8Array): Promise<ResolvedFile> {
  const key = `test/${name}`;
  await backend.putObjects([{ key, bytes }]);
  return { file: create(FileSchema, { relativePath: name }), size: bytes.byteLength, storageKey: key, backendId: backend.id };
}

/** The files as the control plane's pages give them: one at a time, each after a turn of the event loop. */
async function* listed(files: readonly ResolvedFile[]): AsyncGenerator<ResolvedFile> {
  for (const file of files) yield await Promise.resolve(file);
}

/** The name of the file a step yielded (undefined at the end). */
function nameOf(step: IteratorResult<ArchiveSource>): string | undefined {
  return step.done === true ? undefined : step.value.resolved.file.relativePath;
}

async function bytesOfSource(source: { bytes: AsyncIterable<Uint8Array> | Iterable<Uint8Array> }): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of source.bytes) chunks.push(chunk);
  return Buffer.concat(chunks);
}

describe('archiveSources', () => {
  it('yields every file in order, small ones grouped by count, bytes and backend, large ones streamed', async () => {
    const main = recording('main');
    const other = recording('other');
    const bodies: { backend: StorageBackend; name: string; bytes: Uint8Array }[] = [];
    for (let i = 0; i < GROUP_FILES + 5; i++) bodies.push({ backend: main.backend, name: `small-${i}`, bytes: bytesOf(i === 3 ? 0 : 1000 + i, i + 1) });
    bodies.push({ backend: main.backend, name: 'large', bytes: bytesOf(GROUPED_FILE_BYTES + 1, 500) });
    bodies.push({ backend: main.backend, name: 'after-large', bytes: bytesOf(10, 501) });
    bodies.push({ backend: other.backend, name: 'elsewhere-1', bytes: bytesOf(20, 502) });
    bodies.push({ backend: other.backend, name: 'elsewhere-2', bytes: bytesOf(30, 503) });
    // Three files of 1 MiB: a group holds two of them (GROUP_BYTES).
    for (let i = 0; i < 3; i++) bodies.push({ backend: main.backend, name: `mib-${i}`, bytes: bytesOf(GROUPED_FILE_BYTES, 600 + i) });
    expect(2 * GROUPED_FILE_BYTES).toBeLessThanOrEqual(GROUP_BYTES);
    const files = await Promise.all(bodies.map((b) => stored(b.backend, b.name, b.bytes)));
    const seen: string[] = [];
    for await (const source of archiveSources(depsWith(main.backend, [other.backend]), listed(files), new AbortController().signal)) {
      const body = bodies[seen.length];
      expect(source.resolved.file.relativePath).toBe(body?.name);
      expect((await bytesOfSource(source)).equals(Buffer.from(body?.bytes ?? []))).toBe(true);
      seen.push(source.resolved.file.relativePath);
    }
    expect(seen).toEqual(bodies.map((b) => b.name));
    expect(main.calls.map((c) => c.length)).toEqual([GROUP_FILES, 5, 1, 2, 1]);
    expect(other.calls.map((c) => c.length)).toEqual([2]);
  });

  it('reads the next group ahead, and its failure comes only after every file before it', async () => {
    const main = recording('main');
    const files = await Promise.all(Array.from({ length: GROUP_FILES + 2 }, (_, i) => stored(main.backend, `f-${i}`, bytesOf(100, 700 + i))));
    main.hold.set(2, { wait: Promise.resolve(), fail: new Error('the second group cannot be read') });
    const sources = archiveSources(depsWith(main.backend), listed(files), new AbortController().signal);
    const first = await sources.next();
    expect(nameOf(first)).toBe('f-0');
    // Read ahead: the second group is asked for while the first group's files are taken.
    await new Promise((resolve) => setImmediate(resolve));
    expect(main.calls).toHaveLength(2);
    for (let i = 1; i < GROUP_FILES; i++) expect(nameOf(await sources.next())).toBe(`f-${i}`);
    await expect(sources.next()).rejects.toThrow('the second group cannot be read');
  });

  it('leaves no unhandled rejection when the reader stops while a group read ahead is still to fail', async () => {
    const main = recording('main');
    const files = await Promise.all(Array.from({ length: GROUP_FILES + 2 }, (_, i) => stored(main.backend, `g-${i}`, bytesOf(100, 800 + i))));
    let release = (): void => undefined;
    main.hold.set(2, { wait: new Promise<void>((resolve) => (release = resolve)), fail: new Error('refused after the reader left') });
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const sources = archiveSources(depsWith(main.backend), listed(files), new AbortController().signal);
      expect((await sources.next()).done).toBe(false);
      await sources.return(undefined);
      release();
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(main.calls).toHaveLength(2);
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
