import { expect, it } from 'vitest';
import { createManualClock } from '../../core/time/clock.ts';
import { decodeManifest } from '../../core/manifest/codec.ts';
import { manifestDigest } from '../../core/manifest/digest.ts';
import { createRegistry, type Registry } from '../../control-plane/registry/registry.ts';
import { readEvents } from '../../control-plane/events/event-log.ts';
import { describeEachDialect } from '../db/test-database.ts';
import { addTextFile, digestsOf } from './workload.ts';

describeEachDialect('registry', (get) => {
  const clock = createManualClock(new Date('2026-11-23T09:00:00.000Z'));
  const registry = (): Registry => createRegistry({ db: get().db, clock });

  it('creates a package with its class default expiry, and rejects an unknown class with no event', async () => {
    const pkg = await registry().createPackage({ tenant: 't1', producer: 'ci', subject: 's', retentionClass: 'raw-evidence', metadata: { k: 'v' } });
    expect(pkg).toMatchObject({ status: 'created', retentionClass: 'raw-evidence', metadata: { k: 'v' }, fileCount: 0, createdAt: '2026-11-23T09:00:00.000Z', expiresAt: '2027-11-23T09:00:00.000Z' });
    expect(pkg.packageId).toMatch(/^pkg_[0-9A-Z]{26}$/);
    const permanent = await registry().createPackage({ tenant: 't1', producer: 'ci', subject: 's', retentionClass: 'permanent-record' });
    expect(permanent.expiresAt).toBeNull();
    const events = await readEvents(get().db, { after: 0, limit: 10_000 });
    await expect(registry().createPackage({ tenant: 't1', producer: 'ci', subject: 's', retentionClass: 'forever' })).rejects.toMatchObject({ code: 'invalid-argument' });
    await expect(registry().createPackage({ tenant: 't1', producer: '', subject: 's', retentionClass: 'transient' })).rejects.toMatchObject({ code: 'invalid-argument' });
    await expect(registry().createPackage({ tenant: 't1', producer: 'p', subject: 's', retentionClass: 'transient', metadata: [1] })).rejects.toMatchObject({ code: 'invalid-argument' });
    await expect(registry().createPackage({ tenant: 't1', producer: 'p', subject: 's', retentionClass: 'transient', metadata: { big: 2 ** 60 } })).rejects.toMatchObject({ code: 'invalid-argument' });
    // What the manifest would refuse at finalize is refused now: an object 33 levels deep, a lone surrogate, -0.
    const nested = (levels: number): Record<string, unknown> => (levels === 0 ? {} : { n: nested(levels - 1) });
    for (const metadata of [nested(32), { s: 'a\ud800b' }, { z: -0 }]) {
      await expect(registry().createPackage({ tenant: 't1', producer: 'p', subject: 's', retentionClass: 'transient', metadata })).rejects.toMatchObject({ code: 'invalid-argument' });
    }
    await expect(registry().finalizePackage({ tenant: 't1', packageId: permanent.packageId, provenance: nested(32) })).rejects.toMatchObject({ code: 'invalid-argument' });
    expect(await readEvents(get().db, { after: 0, limit: 10_000 })).toEqual(events);
    // The deepest accepted finalizes.
    const deep = await registry().createPackage({ tenant: 't1', producer: 'p', subject: 's', retentionClass: 'transient', metadata: nested(31) });
    await registry().finalizePackage({ tenant: 't1', packageId: deep.packageId, provenance: nested(31) });
  });

  it('rejects duplicate paths unless replacing, path clashes and invalid paths; normalises to NFC', async () => {
    const r = registry();
    const { packageId } = await r.createPackage({ tenant: 't1', producer: 'ci', subject: 's', retentionClass: 'transient' });
    await addTextFile(r, 't1', packageId, 'a/b.txt', 'one');
    await expect(addTextFile(r, 't1', packageId, 'a/b.txt', 'two')).rejects.toMatchObject({ code: 'already-exists' });
    await addTextFile(r, 't1', packageId, 'a/b.txt', 'two', true);
    await expect(addTextFile(r, 't1', packageId, 'a', 'x')).rejects.toMatchObject({ code: 'already-exists' });
    await expect(addTextFile(r, 't1', packageId, 'a/b.txt/c', 'x')).rejects.toMatchObject({ code: 'already-exists' });
    for (const bad of ['../x', '/abs', 'a//b', 'a/./b', 'nul\u0000', 'back\\slash', 'C:/x', 'dir/']) {
      await expect(addTextFile(r, 't1', packageId, bad, 'x'), bad).rejects.toMatchObject({ code: 'invalid-argument' });
    }
    await addTextFile(r, 't1', packageId, 'cafe\u0301.txt', 'nfd');
    const files = await r.listFiles('t1', packageId);
    expect(files.map((f) => f.relativePath)).toEqual(['a/b.txt', 'café.txt']);
    expect(files[0]?.blake3).toBe(digestsOf('two').blake3);
    expect((await r.getPackage('t1', packageId)).fileCount).toBe(2);
    await expect(r.addFile({ tenant: 't1', packageId, relativePath: 'd', size: 1, blake3: 'blake3:XYZ', sha256: digestsOf('').sha256, backendId: 'local', storageKey: 'k' })).rejects.toMatchObject({ code: 'invalid-argument' });
    await expect(r.addFile({ tenant: 't1', packageId, relativePath: 'd', size: 1, blake3: digestsOf('').sha256, sha256: digestsOf('').sha256, backendId: 'local', storageKey: 'k' })).rejects.toMatchObject({ code: 'invalid-argument' });
  });

  it('records a batch in one transaction: all or none, with the same path rules as one file at a time', async () => {
    const r = registry();
    const { packageId } = await r.createPackage({ tenant: 't1', producer: 'ci', subject: 's', retentionClass: 'transient' });
    const entry = (relativePath: string, text: string, replace = false) => {
      const d = digestsOf(text);
      return { relativePath, size: d.size, mediaType: 'text/plain', blake3: d.blake3, sha256: d.sha256, backendId: 'local', storageKey: `blake3/${d.blake3.slice(7)}`, replace };
    };
    await addTextFile(r, 't1', packageId, 'taken.txt', 'old');
    await addTextFile(r, 't1', packageId, 'dir/inner.txt', 'inner');
    const before = await readEvents(get().db, { after: 0, limit: 10_000 });
    const refusals: [string, ReturnType<typeof entry>[], string][] = [
      ['a taken path', [entry('new-1.txt', '1'), entry('taken.txt', 'x')], 'already-exists'],
      ['a directory of a stored file', [entry('new-1.txt', '1'), entry('dir', 'x')], 'already-exists'],
      ['a path below a stored file', [entry('taken.txt/below', 'x'), entry('new-1.txt', '1')], 'already-exists'],
      ['a file and its directory in one batch', [entry('x/y', '1'), entry('x', '2')], 'already-exists'],
      ['one path twice', [entry('twice', '1'), entry('twice', '2')], 'invalid-argument'],
      ['an invalid path', [entry('fine', '1'), entry('../escape', '2')], 'invalid-argument'],
    ];
    for (const [what, batch, code] of refusals) await expect(r.addFiles('t1', packageId, batch), what).rejects.toMatchObject({ code });
    await expect(r.addFiles('t1', packageId, [entry('fine', '1'), entry('../escape', '2')])).rejects.toThrow(/file 1 \("\.\.\/escape"\)/);
    await expect(r.addFiles('t2', packageId, [entry('a', '1'), entry('b', '2')])).rejects.toMatchObject({ code: 'not-found' });
    expect(await readEvents(get().db, { after: 0, limit: 10_000 })).toEqual(before);

    const files = await r.addFiles('t1', packageId, [entry('b/2.txt', 'two'), entry('a/1.txt', 'one'), entry('taken.txt', 'new', true), entry('c/same-as-1.txt', 'one')]);
    expect(files.map((f) => f.relativePath)).toEqual(['b/2.txt', 'a/1.txt', 'taken.txt', 'c/same-as-1.txt']);
    const pkg = await r.getPackage('t1', packageId);
    expect(pkg.fileCount).toBe(5);
    expect(pkg.totalBytes).toBe(['new', 'inner', 'two', 'one', 'one'].reduce((n, t) => n + Buffer.byteLength(t), 0));
    const events = await readEvents(get().db, { after: before.at(-1)?.sequence ?? 0, limit: 10_000 });
    expect(events.map((e) => e.type)).toEqual(['v1.file.added', 'v1.file.added', 'v1.file.added', 'v1.file.added']);
    expect(events.map((e) => e.sequence)).toEqual([0, 1, 2, 3].map((i) => (before.at(-1)?.sequence ?? 0) + 1 + i));
    expect(new Set(events.map((e) => e.occurredAt)).size).toBe(1);
    expect((await r.listFiles('t1', packageId)).find((f) => f.relativePath === 'taken.txt')?.blake3).toBe(digestsOf('new').blake3);
  });

  it('finalizes into an immutable package whose manifest is the finalized event payload', async () => {
    const r = registry();
    const { packageId } = await r.createPackage({ tenant: 't1', producer: 'ci', subject: 'build 7', retentionClass: 'release-evidence', metadata: { run: 7 } });
    await addTextFile(r, 't1', packageId, 'z.txt', 'zzz');
    await addTextFile(r, 't1', packageId, 'a.txt', 'aaa');
    clock.advance(5000);
    const result = await r.finalizePackage({ tenant: 't1', packageId, provenance: { tool: 'test' } });
    expect(result.package.status).toBe('finalized');
    expect(result.package.manifestDigest).toBe(manifestDigest(result.manifestBytes).toString());
    const manifest = decodeManifest(result.manifestBytes);
    expect(manifest.files.map((f) => f.relative_path)).toEqual(['a.txt', 'z.txt']);
    expect(manifest.files[0]).toEqual({ relative_path: 'a.txt', size: 3, media_type: 'text/plain', digests: { blake3: digestsOf('aaa').blake3, sha256: digestsOf('aaa').sha256 } });
    expect(manifest.storage_receipts).toHaveLength(2);
    expect(manifest.retention_summary).toEqual({ retention_class: 'release-evidence', expires_at: result.package.expiresAt, holds_active: 0 });
    expect(manifest.provenance).toEqual({ tool: 'test' });
    expect(Buffer.from(await r.getManifestBytes('t1', packageId)).equals(Buffer.from(result.manifestBytes))).toBe(true);
    await expect(addTextFile(r, 't1', packageId, 'late.txt', 'x')).rejects.toMatchObject({ code: 'failed-precondition' });
    await expect(r.finalizePackage({ tenant: 't1', packageId })).rejects.toMatchObject({ code: 'failed-precondition' });
  });

  it('gives a manifest receipts of its own files only: another tenant storing the same bytes earlier, elsewhere, does not show', async () => {
    const r = registry();
    const d = digestsOf('shared evidence');
    const add = (tenant: string, packageId: string, relativePath: string, backendId: string) =>
      r.addFile({ tenant, packageId, relativePath, size: d.size, mediaType: 'text/plain', blake3: d.blake3, sha256: d.sha256, backendId, storageKey: `blake3/${d.blake3.slice(7)}` });
    const theirs = await r.createPackage({ tenant: 'other', producer: 'ci', subject: 's', retentionClass: 'transient' });
    await add('other', theirs.packageId, 'secret.txt', 'their-backend');
    clock.advance(60_000);
    const ours = await r.createPackage({ tenant: 't1', producer: 'ci', subject: 's', retentionClass: 'transient' });
    clock.advance(1000);
    const firstAt = clock.now().toISOString();
    await add('t1', ours.packageId, 'a.txt', 'local');
    clock.advance(1000);
    await add('t1', ours.packageId, 'same-bytes.txt', 'local'); // the same content twice: one receipt, the first time
    const manifest = decodeManifest((await r.finalizePackage({ tenant: 't1', packageId: ours.packageId })).manifestBytes);
    expect(manifest.storage_receipts).toEqual([{ content_address: d.blake3, backend_id: 'local', stored_at: firstAt }]);
    expect(manifest.package.created_at < manifest.storage_receipts[0]!.stored_at).toBe(true);
  });

  it('never finalizes before the package was created, even when the wall clock steps back', async () => {
    const r = registry();
    const { packageId, createdAt } = await r.createPackage({ tenant: 't1', producer: 'ci', subject: 's', retentionClass: 'transient' });
    await addTextFile(r, 't1', packageId, 'a.txt', 'a');
    const back = new Date(clock.now().getTime() - 3_600_000);
    clock.set(back); // NTP stepped the clock back an hour
    const result = await r.finalizePackage({ tenant: 't1', packageId });
    const manifest = decodeManifest(result.manifestBytes);
    expect(manifest.package.created_at).toBe(createdAt);
    expect(manifest.package.finalized_at >= createdAt).toBe(true);
    expect(manifest.package.finalized_at >= manifest.storage_receipts[0]!.stored_at).toBe(true);
    expect(result.package.finalizedAt).toBe(manifest.package.finalized_at);
    const events = await readEvents(get().db, { after: 0, limit: 10_000 });
    expect(events.at(-1)).toMatchObject({ type: 'v1.package.finalized', occurredAt: manifest.package.finalized_at });
    clock.set(new Date(back.getTime() + 3_600_000));
  });

  it('never shows one tenant another tenant\'s package', async () => {
    const r = registry();
    const { packageId } = await r.createPackage({ tenant: 't1', producer: 'ci', subject: 's', retentionClass: 'transient' });
    await expect(r.getPackage('t2', packageId)).rejects.toMatchObject({ code: 'not-found' });
    await expect(r.listFiles('t2', packageId)).rejects.toMatchObject({ code: 'not-found' });
    await expect(addTextFile(r, 't2', packageId, 'x', 'x')).rejects.toMatchObject({ code: 'not-found' });
    await expect(r.finalizePackage({ tenant: 't2', packageId })).rejects.toMatchObject({ code: 'not-found' });
    await expect(r.getManifestBytes('t1', packageId)).rejects.toMatchObject({ code: 'failed-precondition' });
  });

  it('serialises concurrent adds and a finalize on one package: the manifest lists exactly the files that committed before it', async () => {
    const r = registry();
    const { packageId } = await r.createPackage({ tenant: 't1', producer: 'ci', subject: 's', retentionClass: 'transient' });
    await addTextFile(r, 't1', packageId, 'first', 'first');
    const adds = Array.from({ length: 20 }, (_, i) => addTextFile(r, 't1', packageId, `f${i}`, `content ${i}`).then(() => true, () => false));
    const finalize = r.finalizePackage({ tenant: 't1', packageId });
    const outcomes = await Promise.all(adds);
    const { manifest } = await finalize;
    expect(manifest.files.length).toBe(1 + outcomes.filter(Boolean).length);
    expect((await r.listFiles('t1', packageId)).length).toBe(manifest.files.length);
  });
});
