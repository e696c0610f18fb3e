// The local filesystem backend: the shared contract, then what only a filesystem can get wrong
// (paths, symlinks, staging files, a missing root).
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Digest } from '../../core/identity/digest.ts';
import type { StorageBackend } from '../../data-plane/storage/backend.ts';
import { contentKey } from '../../data-plane/storage/keys.ts';
import { createLocalBackend } from '../../data-plane/storage/local/local-backend.ts';
import { createLocalLayout } from '../../data-plane/storage/local/local-layout.ts';
import { createLocalWriter } from '../../data-plane/storage/local/local-writer.ts';
import { describeStorageBackend } from './backend.contract.ts';
import { collect, drain, expectStorageError } from './helpers.ts';

describeStorageBackend(
  'local',
  async () => {
    const root = await mkdtemp(join(tmpdir(), 'artifact-store-local-'));
    return {
      backend: createLocalBackend({ id: 'local-test', root }),
      leftovers: () => rawEntries(root),
      cleanup: () => rm(root, { recursive: true, force: true }),
    };
  },
  { reportsCapacity: true, nestedKeys: 'rejected' },
);

describe('local backend on the filesystem', () => {
  let sandbox: string;
  let root: string;
  let outside: string;
  let backend: StorageBackend;

  beforeEach(async () => {
    sandbox = await mkdtemp(join(tmpdir(), 'artifact-store-local-fs-'));
    root = join(sandbox, 'root');
    outside = join(sandbox, 'outside');
    await mkdir(root);
    await mkdir(outside);
    backend = createLocalBackend({ id: 'local-fs-test', root });
  });

  afterEach(async () => {
    await rm(sandbox, { recursive: true, force: true });
  });

  const digest = Digest.fromHex('blake3', 'abcd'.repeat(16));
  const key = contentKey(digest);

  it('stores content at <root>/<algorithm>/<hex[0:2]>/<hex[2:4]>/<hex>, read-only, staging empty', async () => {
    await put(backend, key, 'hello');
    const path = join(root, 'blake3', 'ab', 'cd', digest.hex);
    expect(await readFile(path, 'utf8')).toBe('hello');
    expect((await stat(path)).mode & 0o777).toBe(0o444);
    expect(await readdir(join(root, '.staging'))).toEqual([]);
  });

  it('stages under .staging and removes the staged file on cancel and on abort', async () => {
    const writer = await backend.createWriter();
    await writer.write(Buffer.from('staged'));
    expect(await readdir(join(root, '.staging'))).toHaveLength(1);
    expect(await rawEntries(root)).toHaveLength(1);
    await writer.cancel();
    expect(await readdir(join(root, '.staging'))).toEqual([]);

    const controller = new AbortController();
    const aborted = await backend.createWriter({ signal: controller.signal });
    await aborted.write(Buffer.from('staged'));
    controller.abort();
    await expectStorageError(aborted.commit(key), 'aborted');
    expect(await readdir(join(root, '.staging'))).toEqual([]);
    expect(await rawEntries(root)).toEqual([]);
  });

  it('never replaces an existing object: the second commit leaves the first file in place', async () => {
    await put(backend, key, 'first');
    const before = await stat(join(root, 'blake3', 'ab', 'cd', digest.hex));
    expect(await put(backend, key, 'other')).toBe(false); // same size, other bytes: not compared
    const after = await stat(join(root, 'blake3', 'ab', 'cd', digest.hex));
    expect(after.ino).toBe(before.ino);
    expect(await text(backend, key)).toBe('first');
  });

  it('does not sync the staged bytes of an object already stored, and syncs those of a new one before linking', async () => {
    await put(backend, key, 'first');
    // The staged file's name is removed before the commit, so syncing it (which opens it by name) fails:
    // a duplicate commits without it, a new object does not commit at all.
    const stagedAway = async (bytes: string) => {
      const writer = await backend.createWriter();
      await writer.write(Buffer.from(bytes));
      const [name] = await readdir(join(root, '.staging'));
      await rm(join(root, '.staging', name ?? ''));
      return writer;
    };
    expect(await (await stagedAway('first')).commit(key)).toEqual({ created: false });
    const other = contentKey(Digest.fromHex('blake3', 'ef01'.repeat(16)));
    await expectStorageError((await stagedAway('other')).commit(other), 'not-found');
    await expect(stat(join(root, 'blake3', 'ef', '01', 'ef01'.repeat(16)))).rejects.toThrow(/ENOENT/);
    expect(await text(backend, key)).toBe('first');
  });

  it('hands the removal of a duplicate\'s staged copy to the backend\'s background work, not a new object\'s', async () => {
    const layout = createLocalLayout(root);
    const tracked: Promise<unknown>[] = [];
    const background = { track: (work: Promise<unknown>) => void tracked.push(work), settled: () => Promise.all(tracked).then(() => undefined) };
    const write = async (): Promise<{ created: boolean }> => {
      const writer = await createLocalWriter(layout, background);
      await writer.write(Buffer.alloc(3 * 1024 * 1024, 7));
      return writer.commit(key);
    };
    expect(await write()).toEqual({ created: true });
    expect(tracked).toHaveLength(0);
    expect(await readdir(join(root, '.staging'))).toEqual([]); // a new object's staged name goes at once
    expect(await write()).toEqual({ created: false });
    expect(tracked).toHaveLength(1);
    await Promise.all(tracked);
    expect(await readdir(join(root, '.staging'))).toEqual([]);
    // The backend's own settle() waits for the same work.
    const writer = await backend.createWriter();
    await writer.write(Buffer.alloc(3 * 1024 * 1024, 7));
    expect(await writer.commit(key)).toEqual({ created: false });
    await backend.settle();
    expect(await readdir(join(root, '.staging'))).toEqual([]);
  });

  it('does not stage the bytes of a small object already stored (putObjects)', async () => {
    await put(backend, key, 'first');
    // No staging directory can be made (a file is in its place): only duplicates can be stored.
    await rm(join(root, '.staging'), { recursive: true, force: true });
    await writeFile(join(root, '.staging'), 'not a directory');
    const other = contentKey(Digest.fromHex('blake3', 'ef01'.repeat(16)));
    const results = await backend.putObjects([{ key, bytes: Buffer.from('first') }]);
    expect(results).toEqual([{ created: false }]);
    await expectStorageError(backend.putObjects([{ key: other, bytes: Buffer.from('other') }]), 'not-found'); // ENOTDIR
    await expect(stat(join(root, 'blake3', 'ef', '01', 'ef01'.repeat(16)))).rejects.toThrow(/ENOENT/);
  });

  it('prunes the fan-out directories of a deleted object', async () => {
    await put(backend, key, 'x');
    await backend.delete(key);
    expect((await readdir(root)).sort()).toEqual(['.staging']);
  });

  it('survives deletes pruning the directories a commit is about to use', async () => {
    for (let round = 0; round < 50; round++) {
      await put(backend, 'race/dir/victim', 'v');
      const [created] = await Promise.all([put(backend, `race/dir/object-${round}`, 'o'), backend.delete('race/dir/victim')]);
      expect(created).toBe(true);
      await backend.delete(`race/dir/object-${round}`);
    }
    expect(await rawEntries(root)).toEqual([]);
  });

  it('does not follow a symlink planted where an object should be', async () => {
    const secret = join(outside, 'secret');
    await writeFile(secret, 'secret');
    await mkdir(join(root, 'blake3', 'ab', 'cd'), { recursive: true });
    await symlink(secret, join(root, 'blake3', 'ab', 'cd', digest.hex));

    await expectStorageError(backend.get(key), 'integrity');
    await expectStorageError(backend.getObjects([{ key, expectedSize: 6 }]), 'integrity');
    await expectStorageError(backend.head(key), 'integrity');
    await expectStorageError(put(backend, key, 'overwrite'), 'integrity');
    expect(await readFile(secret, 'utf8')).toBe('secret');
    expect(await collect(backend.list(''))).toEqual([]);
    // Deleting removes the link itself, never its target.
    await backend.delete(key);
    expect(await readFile(secret, 'utf8')).toBe('secret');
    expect(await rawEntries(root)).toEqual([]);
  });

  it('does not follow a symlinked directory out of the root', async () => {
    await mkdir(join(outside, 'ab', 'cd'), { recursive: true });
    await writeFile(join(outside, 'ab', 'cd', digest.hex), 'secret');
    await symlink(outside, join(root, 'blake3'));
    const otherKey = contentKey(Digest.fromHex('blake3', 'abce'.repeat(16)));

    await expectStorageError(backend.get(key), 'integrity');
    await expectStorageError(backend.getObjects([{ key, expectedSize: 6 }]), 'integrity');
    await expectStorageError(backend.head(key), 'integrity');
    await expectStorageError(backend.delete(key), 'integrity');
    await expectStorageError(put(backend, otherKey, 'planted'), 'integrity');
    await expectStorageError(collect(backend.list('blake3')), 'integrity');
    expect(await collect(backend.list(''))).toEqual([]);
    expect(await readFile(join(outside, 'ab', 'cd', digest.hex), 'utf8')).toBe('secret');
    expect(await readdir(join(outside, 'ab', 'cd'))).toEqual([digest.hex]);
    expect(await readdir(join(root, '.staging'))).toEqual([]);
  });

  it('fails a getObjects the read worker cannot hold in memory, and the worker reads on', async () => {
    await put(backend, key, 'first');
    // The largest size a key may claim: no buffer of it can be made, whatever the host's memory settings.
    // The request fails (internal), it does not take the worker down with it, and nothing was read.
    await expectStorageError(backend.getObjects([{ key, expectedSize: Number.MAX_SAFE_INTEGER }]), 'internal');
    const [bytes] = await backend.getObjects([{ key, expectedSize: 5 }]);
    expect(Buffer.from(bytes as Uint8Array).toString()).toBe('first');
  });

  it('fails a getObjects with the first failure in input order, across its groups', async () => {
    // Two groups (32 objects at most each), one per read worker: the first holds a missing object after
    // 31 present ones, the second a size no buffer can hold. The missing object comes first, so not-found.
    await put(backend, key, 'x'.repeat(100 * 1024));
    const missing = contentKey(Digest.fromHex('blake3', 'dcba'.repeat(16)));
    const present = Array.from({ length: 31 }, () => ({ key, expectedSize: 100 * 1024 }));
    await expectStorageError(backend.getObjects([...present, { key: missing, expectedSize: 1 }, { key, expectedSize: Number.MAX_SAFE_INTEGER }]), 'not-found');
    await expectStorageError(backend.getObjects([...present, { key, expectedSize: Number.MAX_SAFE_INTEGER }, { key: missing, expectedSize: 1 }]), 'internal');
  });

  it('reports a FIFO in place of an object as integrity instead of hanging', async () => {
    await mkdir(join(root, 'blake3', 'ab', 'cd'), { recursive: true });
    try {
      execFileSync('mkfifo', [join(root, 'blake3', 'ab', 'cd', digest.hex)]);
    } catch {
      return; // no mkfifo on this system: nothing to check
    }
    await expectStorageError(backend.get(key), 'integrity');
    await expectStorageError(backend.getObjects([{ key, expectedSize: 0 }]), 'integrity');
    await expectStorageError(backend.head(key), 'integrity');
    expect(await collect(backend.list(''))).toEqual([]);
  });

  it('lists only well-formed keys, ignoring foreign entries in the root', async () => {
    await put(backend, key, 'x');
    await mkdir(join(root, 'lost+found'));
    await writeFile(join(root, 'lost+found', 'junk'), 'j');
    await writeFile(join(root, 'README.MD'), 'r');
    await writeFile(join(root, '.hidden'), 'h');
    await symlink(join(outside), join(root, 'linked'));
    expect(await collect(backend.list(''))).toEqual([key]);
  });

  it('reports a missing root as unavailable and never creates it', async () => {
    const missing = join(sandbox, 'not-mounted');
    const unmounted = createLocalBackend({ id: 'missing', root: missing });
    await expectStorageError(unmounted.createWriter(), 'unavailable');
    await expectStorageError(unmounted.get(key), 'unavailable');
    await expectStorageError(unmounted.getObjects([{ key, expectedSize: 1 }]), 'unavailable');
    await expectStorageError(unmounted.head(key), 'unavailable');
    await expectStorageError(unmounted.delete(key), 'unavailable');
    await expectStorageError(collect(unmounted.list('')), 'unavailable');
    const health = await unmounted.health();
    expect(health.ok).toBe(false);
    expect(health.detail).not.toContain(sandbox);
    await expect(stat(missing)).rejects.toThrow();
  });

  it('reports health not ok when the root is a file', async () => {
    const file = join(sandbox, 'file');
    await writeFile(file, '');
    const health = await createLocalBackend({ id: 'file', root: file }).health();
    expect(health.ok).toBe(false);
  });

  it('fails a read with integrity when the object is truncated underneath it', async () => {
    const writer = await backend.createWriter();
    await writer.write(new Uint8Array(3 * 1024 * 1024).fill(7));
    await writer.commit(key);
    const path = join(root, 'blake3', 'ab', 'cd', digest.hex);
    const iterator = (await backend.get(key))[Symbol.asyncIterator]();
    expect((await iterator.next()).done).toBe(false);
    await chmod(path, 0o644);
    await truncate(path, 10);
    await expectStorageError(drain(iterator), 'integrity');
    await backend.delete(key);
  });

  it('keeps absolute paths and errno names out of error messages', async () => {
    const error = await expectStorageError(backend.get(key), 'not-found');
    expect(error.message).not.toContain(root);
    expect(error.message).not.toMatch(/ENOENT/);
  });
});

/** Every file and directory under `root`, relative, except the `.staging` directory itself. */
async function rawEntries(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true });
  return entries.filter((entry) => entry !== '.staging').sort();
}

async function put(backend: StorageBackend, key: string, content: string): Promise<boolean> {
  const writer = await backend.createWriter();
  try {
    await writer.write(Buffer.from(content));
    return (await writer.commit(key)).created;
  } finally {
    await writer.cancel();
  }
}

async function text(backend: StorageBackend, key: string): Promise<string> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of await backend.get(key)) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}
