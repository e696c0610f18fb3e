/**
 * The `artifactstore` command line. Subcommands are dispatched from one table; each has a --help.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { JsonObject } from '@bufbuild/protobuf';
import { withDataPlaneProcessTuning } from '../data-plane/process/process-tuning.ts';
import { binPath } from './bin-path.ts';
import { processIo, type CommandIo } from './command-io.ts';
import { runInterruptible } from './interrupt.ts';
// Commands are imported when dispatched, not here: each process loads only what its command needs
// (a data plane neither the database nor the S3 client, a push neither).
import { COPY_EVENTS_HELP, EVENTS_HELP, GUIDE_BOARD_HELP, HEALTH_HELP, LS_HELP, MANIFEST_HELP, STORAGE_HELP, UPLOADS_HELP } from './command-help.ts';
import type { RetentionCommand, RetentionConnectionOptions } from './commands/retention.ts';

const HELP = `artifactstore — preserves build and assessment evidence

Usage: artifactstore <command> [options]

Commands:
  start                   Run a control plane (127.0.0.1:8000) and a data plane (127.0.0.1:8001)
                          on the embedded default: PGlite + ./var. What \`npm start\` runs.
  control-plane           Run the control plane alone (registry, event log, API; never file bytes).
  data-plane [--control-plane URL] [--listen HOST:PORT] [--advertise-url URL]
                          Run one data plane (streams, hashes and stores bytes).
  push <dir> --producer P --subject S --retention-class C [options]
                          Register a directory as one package and finalize it; prints the package id.
  pull <package-id> <dir> Download every file of a package, verifying both digests.
  ls [filters]            List packages, newest first.
  manifest <package-id> [--json]
                          Print a finalized package's manifest (canonical CBOR, or JCS JSON).
  events tail [--since N] [--follow]
                          Print the event log from a sequence; --follow streams new events.
  health                  Ask the control plane's /healthz; exit 0 ok, 1 degraded, 2 unavailable.
  guide-board ingest <run-dir> [options]
                          Register a guide-board assessment run as one package (idempotent on
                          the run id); prints the package id (see guide-board --help).
  retention extend|hold|release|sweep|history|show ...
                          Extend a package's expiry, place or release holds, run the eligibility
                          sweep, print the retention history or state (see retention --help).
  version                 Print the version.
  migrate                 Apply pending database migrations.
  replay [--check]        Rebuild every view table from the event log (after verifying the chain).
                          --check also reports whether the views differed from the log.
  audit verify [--json]   Recompute the event hash chain; exit 1 naming the first bad sequence.
  storage verify [--backend ID] [--json]
                          Re-read every stored copy, recompute both digests, record failures.
  uploads sweep [--backend ID] [--json]
                          Expire abandoned upload sessions and delete their parts (data planes
                          also do this every ARTIFACTSTORE_UPLOAD_SWEEP_INTERVAL seconds).
  copy-events --from DB_URL [--to DB_URL]
                          Copy the event log to another database (PGlite -> PostgreSQL) and
                          rebuild the views there.

Environment:
  ARTIFACTSTORE_DATA_DIR       Data directory (default ./var); embedded PGlite lives in <dir>/pglite.
  ARTIFACTSTORE_DATABASE_URL   postgres://user@host:port/db to use PostgreSQL instead of PGlite.
  ARTIFACTSTORE_LISTEN         Control-plane address (default 127.0.0.1:8000).
  ARTIFACTSTORE_URL            Control-plane URL for client commands (default http://127.0.0.1:8000).
  ARTIFACTSTORE_TOKEN          Bearer token for client commands (local default: <data dir>/dev-token).
  ARTIFACTSTORE_CONFIG         Operator TOML: retention class durations and sweep interval (control
                               plane), storage backends and routing (control plane and data planes).
  ARTIFACTSTORE_CLI            auto (default): the compiled CLI while it matches the sources (npm run
                               build), else the sources through tsx; compiled or source to insist.
  See docs/OPERATOR.md for every variable.

Embedded PGlite admits one process at a time: run migrate, replay and audit while the service is stopped.
Run 'artifactstore <command> --help' for a command's options.`;

const COMMAND_HELP: Record<string, string> = {
  start:
    'Usage: artifactstore start [--control-plane-listen HOST:PORT] [--data-plane-listen HOST:PORT]\n\nStarts a control plane and then a data plane as two child processes, relays their logs, and\nstops both on Ctrl-C, SIGTERM or SIGHUP (the data plane first, then the control plane; a\nsecond signal stops both at once, a third kills them) or when either exits. Killed outright,\nit leaves no server behind: each notices within a second and closes by itself.\nDefaults: ARTIFACTSTORE_LISTEN and ARTIFACTSTORE_DATA_PLANE_LISTEN, else 127.0.0.1:8000 and\n127.0.0.1:8001.\nOn first start with no tokens configured, an admin token is written to <data dir>/dev-token.',
  push:
    'Usage: artifactstore push <dir> --producer P --subject S --retention-class C\n         [--metadata KEY=VALUE]... [--metadata-json JSON] [--no-finalize] [--concurrency N]\n         [--json] [--url URL] [--token TOKEN]\n\nCreates a package, uploads every file below <dir> (each stored SHA-256 is checked against the\nbytes read), then finalizes it, uploading --concurrency N files at once (1-256, default 8).\nSymbolic links leaving <dir>, special files and unreadable\nentries are errors: nothing is skipped silently. Prints the package id; --json prints id,\nmanifest digest, file count, bytes and expiry. Ctrl-C (or SIGTERM) aborts the uploads and leaves\nthe package open, not finalized, naming it; exit 130 (143). Once the finalize call is under way it\ncompletes. A second Ctrl-C quits at once.\n\nRetention classes: transient, raw-evidence, summary-evidence, release-evidence, permanent-record.',
  pull: 'Usage: artifactstore pull <package-id> <dir> [--force] [--concurrency N] [--url URL] [--token TOKEN]\n\nDownloads every file of the package below <dir>, checking size, SHA-256 and BLAKE3 of each.\nA file already there is read: one with the package\'s bytes (a regular file of its own, below <dir>,\nwith the size and both digests) is kept, with or without --force, so a pull that stopped can be run\nagain; any other is not overwritten unless --force.\nOn a case-insensitive filesystem (macOS and Windows by default, exFAT), a package holding paths\nthat differ only in case (Readme.txt and README.txt) is refused before anything is written: pull\nit into a case-sensitive directory.\n--concurrency N: downloads at once, 1-256 (default 8). Ctrl-C (or SIGTERM) aborts the downloads:\nfiles already checked and placed stay, no temporary file does; exit 130 (143). A second Ctrl-C\nquits at once and may leave a temporary *.partial file.',
  'control-plane': 'Usage: artifactstore control-plane\n\nRuns the control plane until SIGINT/SIGTERM. Configured by environment (see docs/OPERATOR.md).',
  'data-plane':
    'Usage: artifactstore data-plane [--control-plane URL] [--listen HOST:PORT] [--advertise-url URL]\n\nRuns one data plane until SIGINT/SIGTERM. Defaults: --control-plane http://127.0.0.1:8000,\n--listen 127.0.0.1:8001, --advertise-url http://<listen> (the URL clients are redirected to).\nThe three flags default to ARTIFACTSTORE_CONTROL_PLANE_URL, ARTIFACTSTORE_DATA_PLANE_LISTEN and\nARTIFACTSTORE_DATA_PLANE_ADVERTISE_URL when those are set.\nStorage root: ARTIFACTSTORE_STORAGE_ROOT (default <data dir>/objects). Storage backends (S3, several\nlocal ones): the [storage] table of ARTIFACTSTORE_CONFIG, the same file the control plane reads.\nStart it with GLIBC_TUNABLES=' + (withDataPlaneProcessTuning({}).GLIBC_TUNABLES ?? '') + '\n(artifactstore start does; docs/OPERATOR.md, "Process settings of a data plane").',
  retention: `Usage: artifactstore retention <subcommand> [--json] [--url URL] [--token TOKEN]

  extend <package-id> (--until TIME | --by DURATION) --reason TEXT
                 Move the package's expiry to TIME (RFC 3339, e.g. 2036-01-31T00:00:00Z) or DURATION
                 (e.g. 365d, 12h) past its current expiry.
  hold <package-id> --reason TEXT
                 Place a hold; prints the hold id. The token's name is recorded as the actor.
  release <package-id> <hold-id> --reason TEXT
                 Release one active hold.
  sweep [--as-of TIME] [--dry-run]
                 Run the eligibility sweep once (admin token). --as-of later than now needs --dry-run,
                 which previews what a sweep at that time would mark and writes nothing.
  history <package-id> [--cbor] [--output FILE]
                 The package's retention events in order, as RFC 8785 JSON (or canonical CBOR, which
                 needs --output).
  show <package-id>
                 Class, expiry, active holds, eligibility.

Rules:
  - Every package gets an expiry when it is created: now + its class's configured duration
    (ARTIFACTSTORE_CONFIG, retention.classes). permanent-record never expires and is never eligible.
    Changing the configuration later does not change existing packages.
  - The expiry can only move strictly later, with a reason. Nothing shortens a retention.
  - Any active hold keeps a package ineligible whatever its expiry; holds are independent, and
    each is released by its id, with a reason.
  - The sweep (scheduled, default every hour; or this command) marks a package eligible for
    deletion once its expiry has passed (expiry <= as-of) and it has no active hold, once per
    transition. A hold, or an extension past now, makes an eligible package ineligible again at
    once. Eligible means "may be deleted": nothing deletes bytes yet.
  - Every change is an event in the log; 'history' shows them; replay rebuilds the same state.
  - Another tenant's package is "not found".`,
  'guide-board': GUIDE_BOARD_HELP,
  'copy-events': COPY_EVENTS_HELP,
  storage: STORAGE_HELP,
  uploads: UPLOADS_HELP,
  health: HEALTH_HELP,
  manifest: MANIFEST_HELP,
  ls: LS_HELP,
  events: EVENTS_HELP,
  version: 'Usage: artifactstore version\n\nPrints the artifact-store version.',
  migrate: 'Usage: artifactstore migrate\n\nApplies pending migrations to the configured database (see artifactstore --help for the environment).',
  replay:
    'Usage: artifactstore replay [--check]\n\nVerifies the event hash chain, then empties every view table (packages, files, storage\nlocations, retention state, holds, upload sessions) and rebuilds them from the event log in one\ntransaction. Refuses to run on a log that fails verification: exit 2, nothing changed.\n\n  --check   also compare the views before and after; exit 1 if they differed.',
  audit: 'Usage: artifactstore audit verify [--json]\n\nRecomputes every event hash from sequence 1 and checks the links, the sequence and the log head.\nExit 0 when the chain is intact; exit 1 naming the first bad sequence and why.\n\n  --json    print the result as JSON.',
};

/**
 * The version in the project's package.json: the nearest one named artifact-store above this module
 * (`cli/main.ts` in the sources, `dist/builds/<id>/main.js` compiled).
 */
function version(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'artifact-store' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // no package.json here: look further up
    }
    if (dirname(dir) === dir) throw new Error('cannot find the artifact-store package.json above the CLI');
  }
}

function parseConcurrency(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 256) throw new UsageError(`--concurrency must be an integer from 1 to 256 (got ${JSON.stringify(text)})`);
  return n;
}

function parseMetadata(pairs: readonly string[], json: string | undefined): JsonObject {
  let metadata: JsonObject = {};
  if (json !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(json);
    } catch (err) {
      throw new UsageError(`--metadata-json is not JSON: ${(err as Error).message}`);
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new UsageError('--metadata-json must be a JSON object');
    metadata = parsed as JsonObject;
  }
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`--metadata wants KEY=VALUE (got ${JSON.stringify(pair)})`);
    metadata = { ...metadata, [pair.slice(0, eq)]: pair.slice(eq + 1) };
  }
  return metadata;
}

/** Parses `retention <subcommand> ...` into the command and its connection options. */
async function parseRetention(rest: readonly string[]): Promise<[RetentionCommand, RetentionConnectionOptions]> {
  const { values, positionals } = parseArgs({
    args: [...rest],
    allowPositionals: true,
    strict: true,
    options: {
      until: { type: 'string' },
      by: { type: 'string' },
      reason: { type: 'string' },
      'as-of': { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
      cbor: { type: 'boolean', default: false },
      output: { type: 'string' },
      json: { type: 'boolean', default: false },
      url: { type: 'string' },
      token: { type: 'string' },
    },
  });
  const [sub, ...args] = positionals;
  const want = (n: number, usage: string): void => {
    if (args.length !== n) throw new UsageError(`usage: artifactstore retention ${usage}`);
  };
  const reason = (): string => {
    if (values.reason === undefined || values.reason.trim() === '') throw new UsageError('--reason is mandatory');
    return values.reason;
  };
  let command: RetentionCommand;
  switch (sub) {
    case 'extend': {
      want(1, 'extend <package-id> (--until TIME | --by DURATION) --reason TEXT');
      if ((values.until === undefined) === (values.by === undefined)) throw new UsageError('give exactly one of --until and --by');
      // Parsed here, before any RPC, so a malformed value is a usage error (exit 2) like every other.
      let target: { until: Date } | { byMs: number };
      if (values.until !== undefined) {
        const { parseTime } = await import('./client/time-flag.ts');
        target = { until: asUsage(() => parseTime(values.until as string, '--until')) };
      } else {
        const { parseDuration } = await import('../control-plane/config/operator-config.ts');
        target = { byMs: asUsage(() => parseDuration(values.by as string, '--by')) };
      }
      command = { kind: 'extend', packageId: args[0]!, ...target, reason: reason() };
      break;
    }
    case 'hold':
      want(1, 'hold <package-id> --reason TEXT');
      command = { kind: 'hold', packageId: args[0]!, reason: reason() };
      break;
    case 'release':
      want(2, 'release <package-id> <hold-id> --reason TEXT');
      command = { kind: 'release', packageId: args[0]!, holdId: args[1]!, reason: reason() };
      break;
    case 'sweep': {
      want(0, 'sweep [--as-of TIME] [--dry-run]');
      let asOf: Date | undefined;
      if (values['as-of'] !== undefined) {
        const { parseTime } = await import('./client/time-flag.ts');
        asOf = asUsage(() => parseTime(values['as-of'] as string, '--as-of'));
      }
      command = { kind: 'sweep', asOf, dryRun: values['dry-run'] };
      break;
    }
    case 'history':
      want(1, 'history <package-id> [--cbor] [--output FILE]');
      if (values.cbor && values.output === undefined) throw new UsageError('--cbor needs --output FILE (CBOR is binary)');
      command = { kind: 'history', packageId: args[0]!, format: values.cbor ? 'cbor' : 'json', output: values.output };
      break;
    case 'show':
      want(1, 'show <package-id>');
      command = { kind: 'show', packageId: args[0]! };
      break;
    default:
      throw new UsageError(`unknown retention subcommand ${JSON.stringify(sub ?? '')} (extend, hold, release, sweep, history, show)`);
  }
  return [command, { url: values.url, token: values.token, json: values.json }];
}

/** A usage error: printed with a pointer to --help, exit code 2. */
class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Runs a flag's parser; its complaint about the value becomes a usage error. */
function asUsage<T>(parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** Runs the CLI with `argv` (without node and script); returns the exit code. */
export async function runCli(argv: readonly string[], io: CommandIo): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    io.out(HELP);
    return command === undefined ? 2 : 0;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    const text = COMMAND_HELP[command];
    if (text === undefined) {
      io.err(`unknown command ${JSON.stringify(command)}; see artifactstore --help`);
      return 2;
    }
    io.out(text);
    return 0;
  }
  try {
    return await dispatch(command, rest, io);
  } catch (err) {
    // node:util parseArgs reports bad flags with ERR_PARSE_ARGS_* codes: a usage error, exit 2.
    if (err instanceof UsageError || (typeof (err as { code?: unknown }).code === 'string' && (err as { code: string }).code.startsWith('ERR_PARSE_ARGS'))) {
      io.err(`${(err as Error).message}; see artifactstore ${command} --help`);
      return 2;
    }
    throw err;
  }
}

async function dispatch(command: string, rest: readonly string[], io: CommandIo): Promise<number> {
  switch (command) {
    case 'version':
    case '--version':
      io.out(version());
      return 0;
    case 'start': {
      const { values } = parseArgs({
        args: [...rest],
        options: { 'control-plane-listen': { type: 'string' }, 'data-plane-listen': { type: 'string' } },
        strict: true,
      });
      // Flags first, then the variables each process would read alone, then the defaults.
      return (await import('./commands/start.ts')).startCommand(io, {
        controlPlaneListen: values['control-plane-listen'] ?? nonEmpty(io.env['ARTIFACTSTORE_LISTEN']) ?? '127.0.0.1:8000',
        dataPlaneListen: values['data-plane-listen'] ?? nonEmpty(io.env['ARTIFACTSTORE_DATA_PLANE_LISTEN']) ?? '127.0.0.1:8001',
      });
    }
    case 'control-plane':
      parseArgs({ args: [...rest], options: {}, strict: true });
      return (await import('./commands/serve-commands.ts')).controlPlaneCommand(io);
    case 'data-plane':
      return (await import('./commands/serve-commands.ts')).dataPlaneCommand(io, rest);
    case 'health':
      return (await import('./commands/health.ts')).healthCommand(io, rest);
    case 'manifest':
      return (await import('./commands/manifest.ts')).manifestCommand(io, rest, process.stdout);
    case 'ls':
      return (await import('./commands/list.ts')).listCommand(io, rest);
    case 'events': {
      const stop = new AbortController();
      const onSignal = (): void => stop.abort();
      process.once('SIGINT', onSignal);
      try {
        return await (await import('./commands/events.ts')).eventsCommand(io, rest, stop.signal);
      } finally {
        process.off('SIGINT', onSignal);
      }
    }
    case 'storage':
      return (await import('./commands/storage.ts')).storageCommand(io, rest);
    case 'uploads':
      return (await import('./commands/uploads.ts')).uploadsCommand(io, rest);
    case 'push': {
      const { values, positionals } = parseArgs({
        args: [...rest],
        allowPositionals: true,
        strict: true,
        options: {
          producer: { type: 'string' },
          subject: { type: 'string' },
          'retention-class': { type: 'string' },
          metadata: { type: 'string', multiple: true, default: [] },
          'metadata-json': { type: 'string' },
          'no-finalize': { type: 'boolean', default: false },
          concurrency: { type: 'string', default: '8' },
          json: { type: 'boolean', default: false },
          url: { type: 'string' },
          token: { type: 'string' },
        },
      });
      const dir = positionals[0];
      const missing = (['producer', 'subject', 'retention-class'] as const).filter((k) => values[k] === undefined);
      if (dir === undefined || positionals.length > 1 || missing.length > 0) {
        io.err(`usage: artifactstore push <dir> --producer P --subject S --retention-class C${missing.length > 0 ? ` (missing --${missing.join(', --')})` : ''}`);
        return 2;
      }
      const { pushDirectory } = await import('./commands/push.ts');
      const options = {
        directory: dir,
        producer: values.producer as string,
        subject: values.subject as string,
        retentionClass: values['retention-class'] as string,
        metadata: parseMetadata(values.metadata, values['metadata-json']),
        finalize: !values['no-finalize'],
        concurrency: parseConcurrency(values.concurrency),
        json: values.json,
        url: values.url,
        token: values.token,
      };
      return runInterruptible(io, 'push', async (signal) => {
        await pushDirectory(io, { ...options, signal });
        return 0;
      });
    }
    case 'pull': {
      const { values, positionals } = parseArgs({
        args: [...rest],
        allowPositionals: true,
        strict: true,
        options: { force: { type: 'boolean', default: false }, concurrency: { type: 'string', default: '8' }, url: { type: 'string' }, token: { type: 'string' } },
      });
      if (positionals.length !== 2) {
        io.err('usage: artifactstore pull <package-id> <dir>');
        return 2;
      }
      const { pullPackage } = await import('./commands/pull.ts');
      const options = { packageId: positionals[0] as string, directory: positionals[1] as string, force: values.force, concurrency: parseConcurrency(values.concurrency), url: values.url, token: values.token };
      return runInterruptible(io, 'pull', async (signal) => {
        await pullPackage(io, { ...options, signal });
        return 0;
      });
    }
    case 'guide-board': {
      const { guideBoardCommand } = await import('./commands/guide-board.ts');
      return runInterruptible(io, 'guide-board ingest', (signal) => guideBoardCommand(io, rest, signal));
    }
    case 'copy-events':
      return (await import('./commands/copy-events.ts')).copyEventsCommand(io, rest);
    case 'retention':
      return (await import('./commands/retention.ts')).retentionCommand(io, ...(await parseRetention(rest)));
    case 'migrate':
      parseArgs({ args: [...rest], options: {}, strict: true });
      return (await import('./commands/db-commands.ts')).migrateCommand(io);
    case 'replay': {
      const { values } = parseArgs({ args: [...rest], options: { check: { type: 'boolean', default: false } }, strict: true });
      return (await import('./commands/db-commands.ts')).replayCommand(io, { check: values.check });
    }
    case 'audit': {
      const { values, positionals } = parseArgs({ args: [...rest], options: { json: { type: 'boolean', default: false } }, allowPositionals: true, strict: true });
      if (positionals.length !== 1 || positionals[0] !== 'verify') {
        io.err('usage: artifactstore audit verify [--json]');
        return 2;
      }
      return (await import('./commands/db-commands.ts')).auditVerifyCommand(io, { json: values.json });
    }
    default:
      io.err(`unknown command ${JSON.stringify(command)}; see artifactstore --help`);
      return 2;
  }
}

const isMain = process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/^.*[\\/]/, '/'));
const viaBin = binPath() !== undefined;
if (isMain || viaBin) {
  const io = processIo();
  runCli(process.argv.slice(2), io).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      io.err(failureLine(err));
      process.exitCode = 1;
    },
  );
}

/**
 * The one line a failed command prints: `error [code]: message`, the code being the service's stable
 * reason for an RPC error (its `artifactstore-reason`, else the Connect code in kebab-case), without
 * the `[code]` prefixes Connect and the service put in front of the message.
 */
export function failureLine(err: unknown): string {
  const e = err as { name?: unknown; code?: unknown; message?: unknown; rawMessage?: unknown; metadata?: { get(key: string): string | null } };
  if (e !== null && typeof e === 'object' && e.name === 'ConnectError' && typeof e.rawMessage === 'string' && typeof e.code === 'number') {
    const reason = e.metadata?.get('artifactstore-reason') ?? CONNECT_CODE_NAMES[e.code] ?? 'unknown';
    return `error [${reason}]: ${e.rawMessage.replace(/^\[[a-z0-9-]+\] /, '')}`;
  }
  return `error${typeof e?.code === 'string' ? ` [${e.code}]` : ''}: ${String(e?.message ?? err)}`;
}

/** Connect codes by number, kebab-case (as the service's reasons spell them). */
const CONNECT_CODE_NAMES = ['ok', 'canceled', 'unknown', 'invalid-argument', 'deadline-exceeded', 'not-found', 'already-exists', 'permission-denied', 'resource-exhausted', 'failed-precondition', 'aborted', 'out-of-range', 'unimplemented', 'internal', 'unavailable', 'data-loss', 'unauthenticated'];

/** `value` unless it is unset or empty. */
function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
