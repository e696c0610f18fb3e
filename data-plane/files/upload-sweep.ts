/**
 * The upload sweep: expires abandoned upload sessions nobody asks about again. A session that passed its
 * deadline is refused by every request at once, but its parts stay until it is purgeable (the grace
 * period for completions that started in time, `UPLOAD_EXPIRY_GRACE_MS`) and something deletes them.
 * A request that meets such a session does it (`upload-sessions.ts`); this sweep does it for the rest.
 * Each data plane runs it periodically for the backends it holds, and `artifactstore uploads sweep`
 * runs it once.
 *
 * For each purgeable session, in upload-id order: delete its parts, then record the expiry
 * (`v1.upload.expired`). Deleting first means a session whose parts could not be deleted stays open and
 * purgeable, so the next sweep finds it again; recording first would lose track of leftover parts. Two
 * sweeps, or a sweep and a request, may meet the same session: deleting absent parts is a no-op and
 * recording the expiry again returns the session unchanged. A session that completed or was aborted in
 * between is refused by the control plane (failed-precondition) and counted as skipped; its parts are
 * gone either way (the request that closed it deletes them too).
 */
import { Code, ConnectError, createClient, type Transport } from '@connectrpc/connect';
import { startPeriodicTask, type PeriodicTask } from '../../core/time/periodic-task.ts';
import type { UploadSession } from '../../gen/artifactstore/internal/v1/control_service_pb.ts';
import { UploadSweepService } from '../../gen/artifactstore/internal/v1/upload_sweep_service_pb.ts';
import type { StorageBackend } from '../storage/backend.ts';
import { deleteParts, stagingPrefix } from './upload-parts.ts';

/** What one session came to. */
export type SweptOutcome = 'expired' | 'skipped' | 'error';

/** What a sweep did. */
export interface UploadSweepSummary {
  /** Sessions whose parts were deleted and whose expiry was recorded. */
  readonly expired: number;
  /** Part objects deleted. */
  readonly partsDeleted: number;
  /** Sessions that closed another way meanwhile (nothing done). */
  readonly skipped: number;
  /** Sessions that could not be expired now (they stay purgeable for the next sweep). */
  readonly errors: readonly { readonly uploadId: string; readonly detail: string }[];
}

/** How to sweep. */
export interface UploadSweepOptions {
  /** The backends this sweeper holds, by id: only sessions whose parts are on them are swept. */
  readonly backends: ReadonlyMap<string, StorageBackend>;
  /** Transport to the control plane carrying the internal token. */
  readonly transport: Transport;
  /** Sessions asked for per page (default 100). */
  readonly pageSize?: number;
  readonly signal?: AbortSignal;
  /** Called after each session (progress output). */
  readonly onSession?: (session: UploadSession, outcome: SweptOutcome, detail: string) => void;
}

/** Runs one sweep; see the file comment. Rejects only when the control plane cannot list sessions. */
export async function sweepUploads(options: UploadSweepOptions): Promise<UploadSweepSummary> {
  const client = createClient(UploadSweepService, options.transport);
  const signal = options.signal ?? new AbortController().signal;
  const backendIds = [...options.backends.keys()];
  let expired = 0;
  let partsDeleted = 0;
  let skipped = 0;
  const errors: { uploadId: string; detail: string }[] = [];
  let pageToken = '';
  do {
    const page = await client.listPurgeableUploads({ backendIds, pageToken, pageSize: options.pageSize ?? 100 }, { signal });
    for (const session of page.sessions) {
      signal.throwIfAborted();
      let deleted = 0;
      try {
        const backend = options.backends.get(session.backendId);
        if (backend === undefined) throw new Error(`backend ${JSON.stringify(session.backendId)} is not configured here`);
        deleted = await deleteParts(backend, stagingPrefix(session.uploadId, session.stagingKey), signal);
        partsDeleted += deleted;
        await client.recordUploadExpired({ uploadId: session.uploadId }, { signal });
        expired += 1;
        options.onSession?.(session, 'expired', `${deleted} part(s) deleted`);
      } catch (error) {
        if (signal.aborted) throw error;
        if (error instanceof ConnectError && error.code === Code.FailedPrecondition) {
          skipped += 1;
          options.onSession?.(session, 'skipped', error.rawMessage);
          continue;
        }
        const detail = error instanceof ConnectError ? error.rawMessage : error instanceof Error ? error.message : String(error);
        errors.push({ uploadId: session.uploadId, detail });
        options.onSession?.(session, 'error', detail);
      }
    }
    pageToken = page.nextPageToken;
  } while (pageToken !== '');
  return { expired, partsDeleted, skipped, errors };
}

/** A periodic sweep; `stop` ends it and waits for a sweep in progress. */
export type UploadSweeper = PeriodicTask;

/** Options of {@link startUploadSweeper}. */
export interface UploadSweeperOptions extends Omit<UploadSweepOptions, 'signal' | 'onSession'> {
  /** Time between the end of one sweep and the start of the next (the first starts after one interval). */
  readonly intervalMs: number;
  readonly log: (line: string) => void;
}

/**
 * Sweeps every `intervalMs` until stopped (`core/time/periodic-task.ts`: runs never overlap, the first
 * starts one interval after the start). A sweep that expired something or met errors logs one line; a
 * failed sweep (control plane unreachable) logs and waits for the next turn.
 */
export function startUploadSweeper(options: UploadSweeperOptions): UploadSweeper {
  return startPeriodicTask({
    intervalMs: options.intervalMs,
    run: async (signal) => {
      const summary = await sweepUploads({ ...options, signal });
      if (summary.expired === 0 && summary.errors.length === 0) return;
      const failed = summary.errors.map((e) => `${e.uploadId}: ${e.detail}`).join('; ');
      options.log(`upload sweep: ${summary.expired} expired session(s), ${summary.partsDeleted} part(s) deleted, ${summary.skipped} skipped, ${summary.errors.length} not expired${failed === '' ? '' : ` (${failed})`}`);
    },
    onError: (error) => options.log(`upload sweep failed: ${error instanceof Error ? error.message : String(error)}`),
  });
}
