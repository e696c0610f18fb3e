/**
 * `artifactstore guide-board ingest <run-dir>`: registers one guide-board assessment run directory as
 * one package (producer `guide-board`), with the run's facts as package metadata, through `push`.
 * Idempotent on the run id: a run already stored is reported, not stored again, unless
 * `--new-package`. See docs/guide-board.md for the layout and the rules.
 */
import { parseArgs } from 'node:util';
import { timestampDate } from '@bufbuild/protobuf/wkt';
import type { CommandIo } from '../command-io.ts';
import { openConnection } from '../client/connection.ts';
import { compileExcludes } from '../client/glob.ts';
import { walkDirectoryDetailed, WalkError } from '../client/walk-directory.ts';
import { findRunPackages, GUIDE_BOARD_PRODUCER } from '../guide-board/existing-package.ts';
import { GuideBoardError } from '../guide-board/guide-board-error.ts';
import { readGuideBoardRun } from '../guide-board/read-run.ts';
import type { Package } from '../../gen/artifactstore/v1/package_pb.ts';
import { pushDirectory, type PushSummary } from './push.ts';



/** What `--json` prints. */
export interface GuideBoardSummary extends PushSummary {
  readonly run_id: string;
  readonly subject: string;
  readonly retention_class: string;
  readonly reused: boolean;
}

function summaryOf(pkg: Package, runId: string, reused: boolean): GuideBoardSummary {
  return {
    package_id: pkg.packageId,
    manifest_digest: pkg.manifestDigest === '' ? null : pkg.manifestDigest,
    file_count: Number(pkg.fileCount),
    total_bytes: Number(pkg.totalBytes),
    expires_at: pkg.expiresAt === undefined ? null : timestampDate(pkg.expiresAt).toISOString(),
    status: 'finalized',
    run_id: runId,
    subject: pkg.subject,
    retention_class: pkg.retentionClass,
    reused,
  };
}

function parseConcurrency(text: string): number | undefined {
  const n = Number(text);
  return Number.isInteger(n) && n >= 1 && n <= 256 ? n : undefined;
}

/** Runs `guide-board <subcommand> ...`; returns the exit code. */
export async function guideBoardCommand(io: CommandIo, rest: readonly string[], signal?: AbortSignal): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...rest],
    allowPositionals: true,
    strict: true,
    options: {
      'retention-class': { type: 'string' },
      subject: { type: 'string' },
      'run-id': { type: 'string' },
      exclude: { type: 'string', multiple: true, default: [] },
      'new-package': { type: 'boolean', default: false },
      'dry-run': { type: 'boolean', default: false },
      concurrency: { type: 'string', default: '8' },
      json: { type: 'boolean', default: false },
      url: { type: 'string' },
      token: { type: 'string' },
    },
  });
  const [sub, dir, ...extra] = positionals;
  if (sub !== 'ingest' || dir === undefined || extra.length > 0) {
    io.err('usage: artifactstore guide-board ingest <run-dir> [options]; see artifactstore guide-board --help');
    return 2;
  }
  const concurrency = parseConcurrency(values.concurrency);
  if (concurrency === undefined) {
    io.err(`--concurrency must be an integer from 1 to 256 (got ${JSON.stringify(values.concurrency)})`);
    return 2;
  }
  let exclude: (p: string) => boolean;
  try {
    exclude = compileExcludes(values.exclude);
  } catch (err) {
    io.err(`${(err as Error).message}; see artifactstore guide-board --help`);
    return 2;
  }
  return ingestRun(io, {
    directory: dir,
    runId: values['run-id'],
    subject: values.subject,
    retentionClass: values['retention-class'],
    exclude,
    newPackage: values['new-package'],
    dryRun: values['dry-run'],
    concurrency,
    json: values.json,
    url: values.url,
    token: values.token,
    signal,
  });
}

/** Options of one ingest. */
export interface IngestOptions {
  readonly directory: string;
  readonly runId?: string | undefined;
  readonly subject?: string | undefined;
  readonly retentionClass?: string | undefined;
  readonly exclude: (relativePath: string) => boolean;
  readonly newPackage: boolean;
  readonly dryRun: boolean;
  readonly concurrency: number;
  readonly json: boolean;
  readonly url?: string | undefined;
  readonly token?: string | undefined;
  /** Stops the upload (Ctrl-C); the package is left open, as `push` leaves it. */
  readonly signal?: AbortSignal | undefined;
}

/** Ingests one run directory; returns the exit code. */
export async function ingestRun(io: CommandIo, options: IngestOptions): Promise<number> {
  let walked;
  try {
    walked = await walkDirectoryDetailed(options.directory, options.exclude);
  } catch (err) {
    if (!(err instanceof WalkError)) throw err;
    io.err(`error [${err.code}]: ${err.message}`);
    if (err.code === 'unpushable-entries') io.err('Fix these entries, or leave them out explicitly with --exclude GLOB (see artifactstore guide-board --help).');
    return 1;
  }
  for (const path of walked.excluded) io.err(`excluded: ${path}`);
  const run = await readGuideBoardRun(options.directory, walked.files, { runId: options.runId, subject: options.subject, retentionClass: options.retentionClass });
  for (const note of run.notes) io.err(`note: ${note}`);
  // Stopped while the run was read: nothing is printed, asked or created.
  options.signal?.throwIfAborted();

  if (options.dryRun) {
    const totalBytes = walked.files.reduce((n, f) => n + f.size, 0);
    io.out(JSON.stringify({ run_id: run.runId, producer: GUIDE_BOARD_PRODUCER, subject: run.subject, retention_class: run.retentionClass, file_count: walked.files.length, total_bytes: totalBytes, excluded: walked.excluded, metadata: run.metadata }, null, 2));
    return 0;
  }

  const conn = await openConnection({ url: options.url, token: options.token, env: io.env });
  if (!options.newPackage) {
    const existing = await findRunPackages(conn.registry, run.runId, options.signal);
    const stored = existing.finalized[0];
    if (stored !== undefined) {
      io.err(`run ${run.runId} is already stored as ${stored.packageId}; nothing uploaded (--new-package stores it again)`);
      const summary = summaryOf(stored, run.runId, true);
      io.out(options.json ? JSON.stringify(summary) : summary.package_id);
      return 0;
    }
    if (existing.open.length > 0) {
      const ids = existing.open.map((p) => p.packageId).join(', ');
      throw new GuideBoardError(
        'guide-board-incomplete-package',
        `an earlier ingest of run ${run.runId} left ${ids} open (interrupted, or still running); it is never finalized by this command. Re-run with --new-package to store the run as a new package (the open one expires with its retention class).`,
      );
    }
  }

  const pushed = await pushDirectory(
    { ...io, out: () => undefined },
    {
      directory: options.directory,
      files: walked.files,
      producer: GUIDE_BOARD_PRODUCER,
      subject: run.subject,
      retentionClass: run.retentionClass,
      metadata: run.metadata,
      finalize: true,
      concurrency: options.concurrency,
      json: true,
      url: options.url,
      token: options.token,
      signal: options.signal,
    },
  );
  const summary: GuideBoardSummary = { ...pushed, run_id: run.runId, subject: run.subject, retention_class: run.retentionClass, reused: false };
  io.out(options.json ? JSON.stringify(summary) : summary.package_id);
  return 0;
}
