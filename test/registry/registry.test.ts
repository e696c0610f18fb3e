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
    expect(await readEvents(get().db, { after: 0, limit: 10_000 })).toEqual(events);
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
