/**
 * `artifactstore push <dir>`: registers a directory as one package. Creates the package, uploads every
 * file to a data plane over HTTP (several requests at a time: large files one by one, streamed; small
 * files in batches, one tar request and one control-plane transaction each), checks each stored
 * SHA-256 against the bytes read, and finalizes. Prints the package id (or, with --json, id, manifest digest, counts, expiry).
 */
import { timestampDate } from '@bufbuild/protobuf/wkt';
import type { JsonObject } from '@bufbuild/protobuf';
import type { Package } from '../../gen/artifactstore/v1/package_pb.ts';
import type { CommandIo } from '../command-io.ts';
import { discoverDataPlane, uploadFile } from '../client/byte-transfer.ts';
import { abortable, openConnection, type Connection } from '../client/connection.ts';
import { mediaTypeFor } from '../client/media-types.ts';
import { runPool } from '../client/run-pool.ts';
import { walkDirectoryDetailed, type LocalFile } from '../client/walk-directory.ts';
import { planTransfers } from '../client/batch-plan.ts';
import { uploadBatch } from '../client/batch-upload.ts';
import { progressBar } from '../client/progress-bar.ts';

/** Options of push. */
export interface PushOptions {
  readonly directory: string;
  /** The files to push, already listed (e.g. with exclusions applied); default: every file below `directory`. */
  readonly files?: readonly LocalFile[] | undefined;
  readonly producer: string;
  readonly subject: string;
  readonly retentionClass: string;
  readonly metadata: JsonObject;
  readonly finalize: boolean;
  readonly concurrency: number;
  readonly json: boolean;
  readonly url?: string | undefined;
  readonly token?: string | undefined;
  /** Stops the push (Ctrl-C): uploads in flight are aborted, the package is left open and not finalized. */
  readonly signal?: AbortSignal | undefined;
}

/** What push prints with --json. */
export interface PushSummary {
  readonly package_id: string;
  readonly manifest_digest: string | null;
  readonly file_count: number;
  readonly total_bytes: number;
  readonly expires_at: string | null;
  readonly status: string;
}

/** Pushes a directory; returns the summary (also printed). */
export async function pushDirectory(io: CommandIo, options: PushOptions): Promise<PushSummary> {
  let files = options.files;
  if (files === undefined) {
    const walked = await walkDirectoryDetailed(options.directory);
    files = walked.files;
    if (walked.emptyDirectories.length > 0) io.err(`not stored (a package holds files, and these directories have none): ${walked.emptyDirectories.join(', ')}`);
  }
  // Stopped while the directory was read: nothing is created.
  options.signal?.throwIfAborted();
  const conn = await openConnection({ url: options.url, token: options.token, env: io.env });
  const headers = conn.authHeaders();
  // Before creating anything: with no live data plane, nothing could be uploaded into the package.
  const dataPlane = files.length === 0 ? '' : await discoverDataPlane(conn.url, DISCOVERY_PACKAGE_ID, headers, options.signal);
  const { package: created } = await conn.registry.createPackage({ producer: options.producer, subject: options.subject, retentionClass: options.retentionClass, metadata: options.metadata }, abortable(options.signal));
  if (created === undefined) throw new Error('CreatePackage returned no package');
  const packageId = created.packageId;
  io.err(`created ${packageId}; uploading ${files.length} files`);
  try {
    return await fill(io, options, conn, files, { created, dataPlane, headers });
  } catch (error) {
    io.err(`package ${packageId} is left open (not finalized); it expires with its retention class, or push again`);
    throw error;
  }
}

/** A package id for asking the control plane which data plane to use: byte routes are redirected before any lookup. */
const DISCOVERY_PACKAGE_ID = 'pkg_discovery';

/** Uploads `files` into the package just created, then finalizes it unless told not to. */
async function fill(
  io: CommandIo,
  options: PushOptions,
  conn: Connection,
  files: readonly LocalFile[],
  context: { readonly created: Package; readonly dataPlane: string; readonly headers: Record<string, string> },
): Promise<PushSummary> {
  const { created, dataPlane, headers } = context;
  const packageId = created.packageId;
  let done = 0;
  let bytes = 0;
  const report = (count: number, size: number): void => {
    done += count;
    bytes += size;
    io.progress(progressBar(done, files.length, 'files', bytes));
  };
  await runPool(planTransfers(files, (f) => f.size), options.concurrency, async (work) => {
    if (work.kind === 'single') {
      const file = work.file;
      await uploadFile(dataPlane, packageId, file.relativePath, file.absolutePath, file.size, { headers, mediaType: mediaTypeFor(file.relativePath), signal: options.signal });
      report(1, file.size);
    } else {
      await uploadBatch(dataPlane, packageId, work.files.map((f) => ({ relativePath: f.relativePath, absolutePath: f.absolutePath, mediaType: mediaTypeFor(f.relativePath) })), { headers, signal: options.signal });
      report(work.files.length, work.files.reduce((sum, f) => sum + f.size, 0));
    }
  }, options.signal);
  let pkg = created;
  let manifestDigest: string | null = null;
  if (options.finalize) {
    // Interrupted after the last upload: not finalized either (a finalized package cannot take more files).
    options.signal?.throwIfAborted();
    const res = await conn.registry.finalizePackage({ packageId });
    if (res.package !== undefined) pkg = res.package;
    manifestDigest = res.manifestDigest;
  } else {
    pkg = (await conn.registry.getPackage({ packageId }, abortable(options.signal))).package ?? pkg;
  }
  const summary: PushSummary = {
    package_id: packageId,
    manifest_digest: manifestDigest,
    file_count: Number(pkg.fileCount),
    total_bytes: Number(pkg.totalBytes),
    expires_at: pkg.expiresAt === undefined ? null : timestampDate(pkg.expiresAt).toISOString(),
    status: options.finalize ? 'finalized' : 'open',
  };
  io.out(options.json ? JSON.stringify(summary) : packageId);
  return summary;
}
