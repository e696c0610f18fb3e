// Resolving reads of several files of one package (`resolvePackageFiles`, the archive route's source)
// on PGlite and PostgreSQL: the paths asked for in that order or every file in manifest order a page at
// a time, each with its stored copies; the same scoping and refusals as a single read.
import { expect, it } from 'vitest';
import { createManualClock } from '../../core/time/clock.ts';
import { createRegistry, MAX_RESOLVED_READS, type Registry } from '../../control-plane/registry/registry.ts';
import { createMutate } from '../../control-plane/registry/mutation.ts';
import { createStorageLocations } from '../../control-plane/registry/storage-locations.ts';
import { describeEachDialect } from '../db/test-database.ts';
import { addTextFile, digestsOf } from './workload.ts';

describeEachDialect('registry read resolution', (get) => {
  const clock = createManualClock(new Date('2026-11-23T09:00:00.000Z'));
  const registry = (): Registry => createRegistry({ db: get().db, clock });

  async function packageWith(r: Registry, tenant: string, paths: readonly string[]): Promise<string> {
    const { packageId } = await r.createPackage({ tenant, producer: 'ci', subject: 's', retentionClass: 'transient' });
    for (const path of paths) await addTextFile(r, tenant, packageId, path, `content of ${path}`);
    return packageId;
  }

  it('resolves the paths asked for, in that order, each with its copies; normal forms match', async () => {
    const r = registry();
    const pkg = await packageWith(r, 't1', ['b.txt', 'a/x.txt', 'café.txt', 'same-1', 'z']);
    // Two paths with the same bytes share one content address and so one location list.
    await addTextFile(r, 't1', pkg, 'same-2', 'content of same-1');
    const page = await r.resolvePackageFiles('t1', pkg, { relativePaths: ['z', 'cafe\u0301.txt', 'a/x.txt', 'same-1', 'same-2'] });
    expect(page.nextPageToken).toBe('');
    expect(page.items.map((i) => i.file.relativePath)).toEqual(['z', 'café.txt', 'a/x.txt', 'same-1', 'same-2']);
    for (const item of page.items) {
      const d = digestsOf(item.file.relativePath === 'same-2' ? 'content of same-1' : `content of ${item.file.relativePath}`);
      expect(item.file).toMatchObject({ packageId: pkg, blake3: d.blake3, sha256: d.sha256, size: d.size });
      expect(item.locations).toEqual([{ backendId: 'local', storageKey: `blake3/${d.blake3.slice(7, 9)}/${d.blake3.slice(9, 11)}/${d.blake3.slice(7)}` }]);
    }
    const single = await r.resolveFile('t1', { packageId: pkg, relativePath: 'same-2' });
    expect(page.items[4]).toEqual(single);
  });

  it('refuses a missing path (naming it), a path twice, a bad path, too many paths, paths with a page token, and another tenant', async () => {
    const r = registry();
    const pkg = await packageWith(r, 't1', ['a', 'b']);
    await expect(r.resolvePackageFiles('t1', pkg, { relativePaths: ['a', 'nope/x'] })).rejects.toMatchObject({ code: 'not-found', message: expect.stringContaining('"nope/x"') as unknown });
    await expect(r.resolvePackageFiles('t1', pkg, { relativePaths: ['a', 'b', 'a'] })).rejects.toMatchObject({ code: 'invalid-argument', message: expect.stringContaining('twice') as unknown });
    await expect(r.resolvePackageFiles('t1', pkg, { relativePaths: ['cafe\u0301', 'café'] })).rejects.toMatchObject({ code: 'invalid-argument' });
    await expect(r.resolvePackageFiles('t1', pkg, { relativePaths: ['../a'] })).rejects.toMatchObject({ code: 'invalid-argument' });
    await expect(r.resolvePackageFiles('t1', pkg, { relativePaths: Array.from({ length: MAX_RESOLVED_READS + 1 }, (_, i) => `f${i}`) })).rejects.toMatchObject({ code: 'invalid-argument' });
    await expect(r.resolvePackageFiles('t1', pkg, { relativePaths: ['a'], pageSize: 1 })).rejects.toMatchObject({ code: 'invalid-argument' });
    await expect(r.resolvePackageFiles('t2', pkg, { relativePaths: ['a'] })).rejects.toMatchObject({ code: 'not-found' });
    await expect(r.resolvePackageFiles('t2', pkg, {})).rejects.toMatchObject({ code: 'not-found' });
    await expect(r.resolvePackageFiles('t1', 'pkg_NOPE', {})).rejects.toMatchObject({ code: 'not-found' });
    await expect(r.resolvePackageFiles('t1', pkg, { relativePaths: ['a'] })).resolves.toMatchObject({ items: [{ file: { relativePath: 'a' } }] });
  });

  it('pages every file in manifest order (UTF-16 code units), and refuses another listing\'s token', async () => {
    const r = registry();
    const paths = ['b', 'a/2', 'a/10', '\u{1F600}.txt', '\uFF21.txt', 'A', 'c/d/e'];
    const pkg = await packageWith(r, 't1', paths);
    const expected = [...paths].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
    const seen: string[] = [];
    let token = '';
    let pages = 0;
    do {
      const page = await r.resolvePackageFiles('t1', pkg, { pageToken: token, pageSize: 3 });
      expect(page.items.length).toBeLessThanOrEqual(3);
      for (const item of page.items) expect(item.locations).toHaveLength(1);
      seen.push(...page.items.map((i) => i.file.relativePath));
      token = page.nextPageToken;
      pages += 1;
    } while (token !== '');
    expect(seen).toEqual(expected);
    expect(pages).toBe(3);
    const all = await r.resolvePackageFiles('t1', pkg, {});
    expect(all.items.map((i) => i.file.relativePath)).toEqual(expected);
    const other = await packageWith(r, 't1', ['x', 'y']);
    const first = await r.resolvePackageFiles('t1', other, { pageSize: 1 });
    await expect(r.resolvePackageFiles('t1', pkg, { pageToken: first.nextPageToken })).rejects.toMatchObject({ code: 'invalid-argument' });
    const listed = await r.listFilesPage('t1', other, { pageSize: 1 });
    await expect(r.resolvePackageFiles('t1', other, { pageToken: listed.nextPageToken })).rejects.toMatchObject({ code: 'invalid-argument' });
    const empty = await packageWith(r, 't1', []);
    expect(await r.resolvePackageFiles('t1', empty, {})).toEqual({ items: [], nextPageToken: '' });
  });

  it('orders the copies of each file as a single read does: failed copies last, then oldest first', async () => {
    const r = registry();
    const locations = createStorageLocations({ db: get().db, mutate: createMutate(get().db, clock) });
    const pkg = await packageWith(r, 't1', ['one.txt']);
    const d = digestsOf('content of one.txt');
    // The same bytes stored again, later, on a second backend (another path records the copy).
    clock.advance(1000);
    await r.addFile({ tenant: 't1', packageId: pkg, relativePath: 'two.txt', size: d.size, blake3: d.blake3, sha256: d.sha256, backendId: 'second', storageKey: 'elsewhere/one' });
    const before = await r.resolvePackageFiles('t1', pkg, { relativePaths: ['one.txt', 'two.txt'] });
    expect(before.items.map((i) => i.locations.map((l) => l.backendId))).toEqual([['local', 'second'], ['local', 'second']]);
    await locations.recordCheck({ contentAddress: d.blake3, backendId: 'local', ok: false, reason: 'digest-mismatch', detail: 'test' });
    const after = await r.resolvePackageFiles('t1', pkg, {});
    expect(after.items.map((i) => i.locations.map((l) => l.backendId))).toEqual([['second', 'local'], ['second', 'local']]);
    expect((await r.resolveFile('t1', { packageId: pkg, relativePath: 'one.txt' })).locations).toEqual(after.items[0]?.locations);
  });
});
