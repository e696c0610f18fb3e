/**
 * A scripted registry workload shared by the replay and audit tests: three packages across two
 * tenants, files added one by one and in a batch, two replaced, two packages finalized and one left open with three upload
 * sessions (one completed, one aborted, one expired).
 */
import { createHash } from 'node:crypto';
import { hash as blake3 } from 'blake3';
import type { ManualClock } from '../../core/time/clock.ts';
import type { Registry } from '../../control-plane/registry/registry.ts';
import { UPLOAD_EXPIRY_GRACE_MS } from '../../control-plane/registry/upload-sessions.ts';

/** Dual digests of `text`, as the data plane would report them. */
export function digestsOf(text: string): { blake3: string; sha256: string; size: number } {
  const bytes = Buffer.from(text, 'utf8');
  return { blake3: `blake3:${blake3(bytes).toString('hex')}`, sha256: `sha256:${createHash('sha256').update(bytes).digest('hex')}`, size: bytes.length };
}

/** Adds a file whose content is `text`. */
export async function addTextFile(registry: Registry, tenant: string, packageId: string, relativePath: string, text: string, replace = false): Promise<void> {
  const d = digestsOf(text);
  await registry.addFile({ tenant, packageId, relativePath, size: d.size, mediaType: 'text/plain', blake3: d.blake3, sha256: d.sha256, backendId: 'local', storageKey: `blake3/${d.blake3.slice(7, 9)}/${d.blake3.slice(9, 11)}/${d.blake3.slice(7)}`, replace });
}

/** Completes upload session `uploadId` with a file of `text` at its path: begin, then record the file with the upload id. */
export async function completeWithTextFile(registry: Registry, tenant: string, packageId: string, uploadId: string, relativePath: string, text: string): Promise<void> {
  const { completionId } = await registry.beginUploadCompletion(tenant, uploadId);
  const d = digestsOf(text);
  await registry.addFile({ tenant, packageId, relativePath, size: d.size, mediaType: 'text/plain', blake3: d.blake3, sha256: d.sha256, backendId: 'local', storageKey: `blake3/${d.blake3.slice(7)}`, upload: { uploadId, completionId } });
}

/** Runs the workload; returns the package ids it created. */
export async function runWorkload(registry: Registry, clock: ManualClock): Promise<string[]> {
  const a = await registry.createPackage({ tenant: 'ci', producer: 'jenkins', subject: 'build-101', retentionClass: 'raw-evidence', metadata: { branch: 'main', run: 101, flaky: false, ratio: 0.25 } });
  clock.advance(1000);
  await addTextFile(registry, 'ci', a.packageId, 'logs/build.log', 'compiling...\nok\n');
  await addTextFile(registry, 'ci', a.packageId, 'reports/junit.xml', '<testsuite tests="3"/>');
  await addTextFile(registry, 'ci', a.packageId, 'reports/junit.xml', '<testsuite tests="4"/>', true);
  clock.advance(1000);
  await registry.finalizePackage({ tenant: 'ci', packageId: a.packageId, provenance: { tool: 'jenkins', commits: ['abc123'] } });

  const b = await registry.createPackage({ tenant: 'assess', producer: 'guide-board', subject: 'cmis-server', retentionClass: 'permanent-record' });
  await addTextFile(registry, 'assess', b.packageId, 'scorecard.json', '{"score":97}');
  await addTextFile(registry, 'assess', b.packageId, 'same-bytes.json', '{"score":97}');
  await addTextFile(registry, 'assess', b.packageId, 'ünïcödé/report.html', '<html></html>');
  clock.advance(60_000);
  await registry.finalizePackage({ tenant: 'assess', packageId: b.packageId });

  const c = await registry.createPackage({ tenant: 'ci', producer: 'jenkins', subject: 'build-102', retentionClass: 'transient', metadata: { nested: { list: [1, 2, { x: null }] } } });
  await addTextFile(registry, 'ci', c.packageId, 'empty.txt', '');
  // A batch (the bulk path of the log and the projector): new paths, repeated content, one replace.
  const batch = ['batch/a.txt', 'batch/b.txt', 'batch/c.txt', 'batch/dup-of-a.txt', 'empty.txt'].map((relativePath, i) => {
    const d = digestsOf(relativePath === 'batch/dup-of-a.txt' ? 'batch 0' : `batch ${i}`);
    return { relativePath, size: d.size, mediaType: 'text/plain', blake3: d.blake3, sha256: d.sha256, backendId: 'local', storageKey: `blake3/${d.blake3.slice(7)}`, replace: relativePath === 'empty.txt' };
  });
  await registry.addFiles('ci', c.packageId, batch);

  // Upload sessions: one completed with its file, one aborted while completing, one left completing (a
  // completion that died), one expired (this moves the clock past its deadline and grace period, 25 h:
  // every later step of a caller runs a day later).
  const done = await registry.createUploadSession({ tenant: 'ci', packageId: c.packageId, relativePath: 'chunked/big.bin', expectedSize: 5, expectedSha256: digestsOf('12345').sha256, backendId: 'local', dataPlaneId: 'dp-1' });
  clock.advance(500);
  await completeWithTextFile(registry, 'ci', c.packageId, done.uploadId, 'chunked/big.bin', '12345');
  const dropped = await registry.createUploadSession({ tenant: 'ci', packageId: c.packageId, relativePath: 'chunked/dropped.bin', mediaType: 'Application/X-Thing', backendId: 'local' });
  // It failed once (open again), then began again and was aborted while completing.
  const failed = await registry.beginUploadCompletion('ci', dropped.uploadId);
  await registry.abandonUploadCompletion('ci', dropped.uploadId, failed.completionId, 'digest-mismatch');
  await registry.beginUploadCompletion('ci', dropped.uploadId);
  await registry.closeUploadSession('ci', dropped.uploadId, 'aborted');
  await registry.beginUploadCompletion('ci', (await registry.createUploadSession({ tenant: 'ci', packageId: c.packageId, relativePath: 'chunked/died.bin', backendId: 'local' })).uploadId);
  const stale = await registry.createUploadSession({ tenant: 'ci', packageId: c.packageId, relativePath: 'chunked/stale.bin', backendId: 'local' });
  clock.set(new Date(Date.parse(stale.expiresAt) + UPLOAD_EXPIRY_GRACE_MS));
  await registry.closeUploadSession('ci', stale.uploadId, 'expired');
  return [a.packageId, b.packageId, c.packageId];
}
