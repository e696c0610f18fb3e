/**
 * `artifactstore pull <package-id> <dir>`: downloads every file of a package into a directory,
 * checking size, SHA-256 and BLAKE3 of each against the registry; refuses to overwrite existing
 * files unless --force, and refuses, before writing anything, a package whose paths the target's
 * filesystem cannot hold apart (`Readme.txt` and `README.txt` on a case-insensitive one). Small files come many to a request (a tar archive of the paths asked for,
 * `POST /packages/{id}/archive`), large ones one each, streamed.
 */
import { progressBar } from '../client/progress-bar.ts';
import { resolve, sep } from 'node:path';
import type { CommandIo } from '../command-io.ts';
import { discoverDataPlane, downloadFile, type FileJson } from '../client/byte-transfer.ts';
import { abortable, openConnection } from '../client/connection.ts';
import { runPool } from '../client/run-pool.ts';
import { downloadBatch } from '../client/archive-download.ts';
import { planTransfers } from '../client/batch-plan.ts';
import { findPathCollisions, PathCollisionError } from '../client/case-collisions.ts';
import { existingTargets } from '../client/existing-targets.ts';

/** Options of pull. */
export interface PullOptions {
  readonly packageId: string;
  readonly directory: string;
  readonly force: boolean;
  readonly concurrency: number;
  readonly url?: string | undefined;
  readonly token?: string | undefined;
  /** Stops the pull (Ctrl-C): transfers in flight are aborted; files placed stay, no temporary file does. */
  readonly signal?: AbortSignal | undefined;
}

/** Downloads a package; returns the number of files written. */
export async function pullPackage(io: CommandIo, options: PullOptions): Promise<number> {
  const conn = await openConnection({ url: options.url, token: options.token, env: io.env });
  const files: FileJson[] = [];
  let pageToken = '';
  do {
    const page = await conn.registry.listFiles({ packageId: options.packageId, pageToken, pageSize: 10_000 }, abortable(options.signal));
    for (const f of page.files) {
      files.push({ file_id: f.fileId, package_id: f.packageId, relative_path: f.relativePath, media_type: f.mediaType, digests: { blake3: f.digests?.blake3 ?? '', sha256: f.digests?.sha256 ?? '', size: String(f.digests?.size ?? 0n) } });
    }
    pageToken = page.nextPageToken;
  } while (pageToken !== '');
  const root = resolve(options.directory);
  const targets = files.map((f) => {
    // Never trust a path from the wire: it must stay inside the target directory.
    const target = resolve(root, ...f.relative_path.split('/'));
    if (!target.startsWith(root + sep)) throw new Error(`refusing to write ${JSON.stringify(f.relative_path)} outside ${root}`);
    return target;
  });
  // Before anything is written: on a case-insensitive filesystem two paths can name one file.
  const collisions = await findPathCollisions(root, files.map((f) => f.relative_path));
  if (collisions.length > 0) {
    const listed = collisions.slice(0, 10).map((c) => `${JSON.stringify(c.first)} and ${JSON.stringify(c.second)}`);
    if (collisions.length > 10) listed.push(`and ${collisions.length - 10} more`);
    throw new PathCollisionError(
      `cannot pull into ${root}: its filesystem stores paths that differ only in case as one file, and this package holds ${collisions.length} such pair(s): ${listed.join('; ')}. Nothing was written; pull into a directory on a case-sensitive filesystem`,
      collisions,
    );
  }
  if (!options.force) {
    const existing = existingTargets(targets);
    const more = existing.length > 1 ? ` (and ${existing.length - 1} more of the package's files)` : '';
    if (existing.length > 0) throw new Error(`${existing[0]} exists${more}; nothing was written; pass --force to overwrite`);
  }
  const headers = conn.authHeaders();
  const dataPlane = files.length === 0 ? '' : await discoverDataPlane(conn.url, options.packageId, headers, options.signal);
  let done = 0;
  let bytes = 0;
  const report = (file: FileJson): void => {
    done += 1;
    bytes += Number(file.digests.size ?? 0);
    io.progress(progressBar(done, files.length, 'files', bytes));
  };
  const directories = new Set<string>();
  const wanted = files.map((file, i) => ({ file, target: targets[i] as string }));
  await runPool(planTransfers(wanted, (w) => Number(w.file.digests.size ?? 0)), options.concurrency, async (work) => {
    if (work.kind === 'single') {
      await downloadFile(dataPlane, work.file.file, work.file.target, headers, options.signal);
      report(work.file.file);
      return;
    }
    await downloadBatch(dataPlane, options.packageId, work.files, { headers, directories, onFile: report, signal: options.signal });
  }, options.signal);
  io.out(`${files.length} files written to ${root}, every digest verified`);
  return files.length;
}
