/**
 * `artifactstore pull <package-id> <dir>`: downloads every file of a package into a directory,
 * checking size, SHA-256 and BLAKE3 of each against the registry; keeps a file that is already there
 * with the package's bytes (a pull run again after it stopped), refuses to overwrite one with other
 * bytes unless --force, and refuses, before writing anything, a package whose paths the target's
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
import { setImmediate as turn } from 'node:timers/promises';
import { existingTargets, inPlaceCheck } from '../client/existing-targets.ts';

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
  // Files already there with the package's bytes stay as they are; others are refused unless --force.
  const inPlace = new Set<string>();
  const existing = existingTargets(targets);
  if (existing.length > 0) {
    const fileOf = new Map(targets.map((target, i) => [target, files[i] as FileJson]));
    const holds = inPlaceCheck(root);
    const differing: string[] = [];
    for (const [i, target] of existing.entries()) {
      // Small files are checked synchronously: let a Ctrl-C in now and then.
      if (i % 64 === 0) {
        await turn();
        options.signal?.throwIfAborted();
        io.progress(progressBar(i, existing.length, 'files already there checked'));
      }
      const { digests } = fileOf.get(target) as FileJson;
      if (await holds(target, { size: Number(digests.size ?? 0), sha256: digests.sha256, blake3: digests.blake3 }, options.signal)) inPlace.add(target);
      else differing.push(target);
    }
    const more = differing.length > 1 ? ` (and ${differing.length - 1} more of the package's files)` : '';
    if (!options.force && differing.length > 0) throw new Error(`${differing[0]} exists and is not the package's file (other bytes, or not a regular file of its own)${more}; nothing was written; pass --force to overwrite`);
  }
  const headers = conn.authHeaders();
  const wanted = files.map((file, i) => ({ file, target: targets[i] as string })).filter((w) => !inPlace.has(w.target));
  // Nothing to fetch (every file already in place): no data plane is needed.
  const dataPlane = wanted.length === 0 ? '' : await discoverDataPlane(conn.url, options.packageId, headers, options.signal);
  let done = 0;
  let bytes = 0;
  for (const [i, target] of targets.entries()) {
    if (!inPlace.has(target)) continue;
    done += 1;
    bytes += Number((files[i] as FileJson).digests.size ?? 0);
  }
  const report = (file: FileJson): void => {
    done += 1;
    bytes += Number(file.digests.size ?? 0);
    io.progress(progressBar(done, files.length, 'files', bytes));
  };
  const directories = new Set<string>();
  await runPool(planTransfers(wanted, (w) => Number(w.file.digests.size ?? 0)), options.concurrency, async (work) => {
    if (work.kind === 'single') {
      await downloadFile(dataPlane, work.file.file, work.file.target, headers, options.signal);
      report(work.file.file);
      return;
    }
    await downloadBatch(dataPlane, options.packageId, work.files, { headers, directories, onFile: report, signal: options.signal });
  }, options.signal);
  const kept = inPlace.size > 0 ? ` (${inPlace.size} already there with the package's bytes, kept)` : '';
  io.out(`${wanted.length} files written to ${root}${kept}, every digest verified`);
  return wanted.length;
}
