/**
 * Help texts of the commands whose code lives in modules of their own, kept apart so that printing
 * help, and every process `cli/main.ts` starts, does not load those modules (a data plane would
 * otherwise carry the database and S3 client code it never uses).
 */
import { DEFAULT_RETENTION_CLASS } from './guide-board/read-run.ts';

/** `--help` of the guide-board command. */
export const GUIDE_BOARD_HELP = `Usage: artifactstore guide-board ingest <run-dir> [options]

Registers one guide-board assessment run directory as one package and prints its id (for Statehub
to record). Producer: guide-board. Subject: the run's target (run.json target.id). Retention class:
the run's retention-summary.json, else ${DEFAULT_RETENTION_CLASS}. Metadata: run id, target, target
profile, assessment profile, evidence result counts, finding counts, source commits, report paths
(layout: docs/guide-board.md). Every file is stored; the manifest lists each with SHA-256, BLAKE3
and size.

Options:
  --retention-class C  Override the run's retention class.
  --subject S          Override the subject (required when run.json names no target).
  --run-id ID          Override the run id (required when run.json has none).
  --exclude GLOB       Leave out matching entries (repeatable). '*' stays within a path segment,
                       '**' crosses them, a pattern without '/' matches a name at any depth.
                       Excluded paths are listed on stderr.
  --new-package        Store the run again even if a package for its run id exists.
  --dry-run            Read and check the run, print what would be recorded (JSON); contact nothing.
  --concurrency N      Parallel uploads (default 8).
  --json               Print {package_id, manifest_digest, file_count, total_bytes, expires_at,
                       status, run_id, subject, retention_class, reused} instead of the id.
  --url URL, --token TOKEN   As for every client command.

Nothing is skipped silently: unreadable files or directories, symbolic links that leave the
directory (or dangle), and special files (FIFOs, sockets, devices) are listed and the command exits
1 before creating anything, unless each is excluded with --exclude.
Ctrl-C (or SIGTERM) aborts the uploads and leaves the package open, not finalized (once the finalize
call is under way it completes); exit 130 (143). A second Ctrl-C quits at once.

Re-running on the same run id prints the stored package (reused: true) and uploads nothing. If an
earlier ingest was interrupted, its package is still open: the command exits 1
(guide-board-incomplete-package) naming it; --new-package stores the run as a new package and
leaves the open one unfinalized (it expires with its retention class).

Exit codes: 0 stored or already stored; 1 refused or failed; 2 usage error; 130 (143) stopped by
Ctrl-C (SIGTERM).`;

/** `--help` of copy-events. */
export const COPY_EVENTS_HELP = `Usage: artifactstore copy-events --from DB_URL [--to DB_URL] [--no-replay]

Copies the event log (the source of truth) from --from into --to unchanged — same sequences, times,
payloads and hashes — then rebuilds every view on the target with replay and verifies its hash chain.
This is the supported way to move from embedded PGlite to PostgreSQL (or back, or between servers).

  --from DB_URL   Source: postgres://user@host:port/db, or pglite://DIR (the embedded database of a
                  data directory is pglite://<data dir>/pglite). Only read: it must exist and have
                  this build's schema (migrate an older one first:
                  ARTIFACTSTORE_DATABASE_URL=DB_URL artifactstore migrate).
  --to DB_URL     Target (default: the configured database, ARTIFACTSTORE_DATABASE_URL, else the
                  PGlite of ARTIFACTSTORE_DATA_DIR). Migrated first. Must be empty, or hold a prefix
                  of the source's log (an earlier, interrupted or catch-up copy): only the rest is copied.
  --no-replay     Copy the log only; run 'artifactstore replay' on the target later.

The source is verified first (refused if 'audit verify' would fail). A target whose log is not a
prefix of the source's is refused (target-diverged). Stop the control plane before the final copy;
PGlite admits one process at a time. File bytes are not copied: storage stays where it is.`;

/** Help of `storage`. */
export const STORAGE_HELP = `Usage: artifactstore storage verify [--backend ID] [--json] [--url URL]

Re-reads every stored copy recorded by the control plane (or only those on backend ID), recomputes
BLAKE3 and SHA-256, and records each outcome as an event: v1.storage.location_verified, or
v1.storage.location_failed (missing, size-mismatch, digest-mismatch). Failed copies show in the
control plane's /healthz. Runs where the data planes run: it opens the backends configured in
ARTIFACTSTORE_CONFIG ([storage]) and presents the internal token (ARTIFACTSTORE_INTERNAL_TOKEN or
<data dir>/internal-token). A copy that cannot be read (backend unreachable) records nothing.

Exit status: 0 all verified, 1 some copy failed, 2 some copy could not be checked (or the run
stopped: the control plane could not be asked).`;

/** Help of `uploads`. */
export const UPLOADS_HELP = `Usage: artifactstore uploads sweep [--backend ID] [--json] [--url URL]

Expires abandoned upload sessions: those still open a grace period (1 hour) after their deadline
(24 hours after they opened). For each, deletes its parts on the backend and then records
v1.upload.expired; a client that comes back is answered 410 upload-expired. Sessions that are still
resumable, or within the grace period (a completion that started in time may still be reading the
parts), are left alone. Every data plane runs this sweep on its own every
ARTIFACTSTORE_UPLOAD_SWEEP_INTERVAL seconds (default 600; 0 turns it off); this runs it once.
Runs where the data planes run: it opens the backends configured in ARTIFACTSTORE_CONFIG ([storage])
(or only backend ID) and presents the internal token (ARTIFACTSTORE_INTERNAL_TOKEN or
<data dir>/internal-token). A session whose parts cannot be deleted stays open for the next sweep.

Exit status: 0 nothing left behind; 1 the control plane could not be asked; 2 some session could not
be expired now (each on stderr, or in the "errors" of --json), or the sweep could not start (no
internal token, an unknown --backend, a missing storage root).`;

/** `--help` of `artifactstore health`. */
export const HEALTH_HELP = `Usage: artifactstore health [--json] [--url URL] [--token TOKEN]

Asks the control plane's /healthz and prints its status, the database, the live data planes and
the number of stored copies whose last verification failed. Exit status: 0 ok, 1 degraded (no data
plane is live, or a copy failed verification: see docs/storage-backends.md), 2 unavailable or
unreachable (a data plane's own /healthz, which has no database, counts as unavailable). --json
prints the /healthz document as is.`;

/** `--help` of `artifactstore manifest`. */
export const MANIFEST_HELP = `Usage: artifactstore manifest <package-id> [--json] [--out FILE] [--url URL] [--token TOKEN]

Prints the manifest of a finalized package: by default its canonical CBOR bytes, exactly as stored
(BLAKE3 of these bytes is the manifest digest); with --json its RFC 8785 (JCS) JSON projection.
--out FILE writes it to a file instead. The manifest digest is printed on stderr. CBOR is refused
on a terminal: use --json, --out or a redirect.`;

/** `--help` of `artifactstore ls`. */
export const LS_HELP = `Usage: artifactstore ls [--producer P] [--subject S] [--retention-class C]
          [--status created|uploading|finalized|deleted|failed] [--limit N] [--json]
          [--url URL] [--token TOKEN]

Lists the packages the token may see, newest first, one tab-separated line each (package id,
status, files, bytes, created, producer, subject), or one JSON object per line with --json.
At most --limit packages (default 100), following pages as needed.`;

/** `--help` of `artifactstore events`. */
export const EVENTS_HELP = `Usage: artifactstore events tail [--since N] [--follow] [--json] [--url URL] [--token TOKEN]

Prints the event log from sequence N+1 (default: from the start) in order, one tab-separated line
per event (sequence, time, type, package id); --json prints one JSON object per event with the
decoded payload (byte strings in hex) and the chain hashes. --follow keeps a WatchEvents stream open
and prints events as they commit, until Ctrl-C; when the control plane restarts or cannot be
reached it says so on stderr and reconnects from the last sequence printed (no event skipped or
repeated). Tenants see only their own packages' events.`;
