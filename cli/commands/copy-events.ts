/**
 * `artifactstore copy-events --from DB [--to DB]`: moves a deployment between databases (PGlite ↔
 * PostgreSQL, or server to server) by copying the event log and rebuilding the views on the target
 * from it. Opens both databases directly: stop the control plane first when either is embedded
 * PGlite (one process at a time), and always before the final run so no event is missed.
 */
import { parseArgs } from 'node:util';
import { databaseConfigFromUrl, openDatabase } from '../../control-plane/db/database.ts';
import { databaseConfigFromEnv, describeDatabase } from '../../control-plane/config/database-env.ts';
import { verifyEventChain } from '../../control-plane/events/audit.ts';
import { copyEventLog } from '../../control-plane/events/copy-log.ts';
import { replay } from '../../control-plane/events/replay.ts';
import type { CommandIo } from '../command-io.ts';

/** `--help` of copy-events. */
export const COPY_EVENTS_HELP = `Usage: artifactstore copy-events --from DB_URL [--to DB_URL] [--no-replay]

Copies the event log (the source of truth) from --from into --to unchanged — same sequences, times,
payloads and hashes — then rebuilds every view on the target with replay and verifies its hash chain.
This is the supported way to move from embedded PGlite to PostgreSQL (or back, or between servers).

  --from DB_URL   Source: postgres://user@host:port/db, or pglite://DIR (the embedded database of a
                  data directory is pglite://<data dir>/pglite).
  --to DB_URL     Target (default: the configured database, ARTIFACTSTORE_DATABASE_URL, else the
                  PGlite of ARTIFACTSTORE_DATA_DIR). Migrated first. Must be empty, or hold a prefix
                  of the source's log (an earlier, interrupted or catch-up copy): only the rest is copied.
  --no-replay     Copy the log only; run 'artifactstore replay' on the target later.

The source is verified first (refused if 'audit verify' would fail). A target whose log is not a
prefix of the source's is refused (target-diverged). Stop the control plane before the final copy;
PGlite admits one process at a time. File bytes are not copied: storage stays where it is.`;

/** Runs copy-events; returns the exit code. */
export async function copyEventsCommand(io: CommandIo, rest: readonly string[]): Promise<number> {
  const { values } = parseArgs({ args: [...rest], strict: true, options: { from: { type: 'string' }, to: { type: 'string' }, 'no-replay': { type: 'boolean', default: false } } });
  if (values.from === undefined) {
    io.err('usage: artifactstore copy-events --from DB_URL [--to DB_URL] [--no-replay]; see artifactstore copy-events --help');
    return 2;
  }
  const sourceConfig = databaseConfigFromUrl(values.from, undefined);
  const targetConfig = values.to === undefined ? databaseConfigFromEnv(io.env) : databaseConfigFromUrl(values.to, undefined);
  const [from, to] = [describeDatabase(sourceConfig), describeDatabase(targetConfig)];
  if (from === to) {
    io.err(`source and target are the same database (${from})`);
    return 2;
  }
  if (sourceConfig.kind === 'pglite' && sourceConfig.dataDir === undefined) {
    io.err('--from pglite:// needs a directory (an in-memory database has nothing to copy)');
    return 2;
  }
  io.err(`source: ${from}`);
  io.err(`target: ${to}`);
  const source = await openDatabase(sourceConfig);
  try {
    const target = await openDatabase(targetConfig);
    try {
      const result = await copyEventLog(source.db, target.db, { onProgress: (n, head) => io.progress(`copied ${n} events (source head ${head})`) });
      io.out(`copied ${result.copied} events (${result.alreadyPresent} already present); target head ${result.head} ${result.headHash}`);
      if (values['no-replay']) return 0;
      const replayed = await replay(target.db, { onProgress: (n, head) => io.progress(`replayed ${n}/${head} events`) });
      io.out(`replayed ${replayed.events} events into the target's views`);
      const audit = await verifyEventChain(target.db);
      if (!audit.ok) {
        io.err(`the target fails verification at sequence ${audit.sequence} (${audit.reason}): ${audit.detail}`);
        return 1;
      }
      io.out(`ok: target verified, ${audit.checked} events, head ${audit.headHash}`);
      return 0;
    } finally {
      await target.close();
    }
  } finally {
    await source.close();
  }
}
