/**
 * `artifactstore copy-events --from DB [--to DB]`: moves a deployment between databases (PGlite ↔
 * PostgreSQL, or server to server) by copying the event log and rebuilding the views on the target
 * from it. Opens both databases directly: stop the control plane first when either is embedded
 * PGlite (one process at a time), and always before the final run so no event is missed.
 */
import { realpath } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { databaseConfigFromUrl, openDatabase, type DatabaseConfig } from '../../control-plane/db/database.ts';
import { databaseConfigFromEnv, describeDatabase } from '../../control-plane/config/database-env.ts';
import { verifyEventChain } from '../../control-plane/events/audit.ts';
import { copyEventLog } from '../../control-plane/events/copy-log.ts';
import { replay } from '../../control-plane/events/replay.ts';
import type { CommandIo } from '../command-io.ts';



/** Runs copy-events; returns the exit code. */
export async function copyEventsCommand(io: CommandIo, rest: readonly string[]): Promise<number> {
  const { values } = parseArgs({ args: [...rest], strict: true, options: { from: { type: 'string' }, to: { type: 'string' }, 'no-replay': { type: 'boolean', default: false } } });
  if (values.from === undefined) {
    io.err('usage: artifactstore copy-events --from DB_URL [--to DB_URL] [--no-replay]; see artifactstore copy-events --help');
    return 2;
  }
  let sourceConfig: DatabaseConfig;
  let targetConfig: DatabaseConfig;
  try {
    sourceConfig = databaseConfigFromUrl(values.from, undefined, '--from');
    targetConfig = values.to === undefined ? databaseConfigFromEnv(io.env) : databaseConfigFromUrl(values.to, undefined, '--to');
  } catch (error) {
    io.err(error instanceof Error ? error.message : String(error));
    return 2;
  }
  const [from, to] = [describeDatabase(sourceConfig), describeDatabase(targetConfig)];
  if (from === to || (await sameDirectory(sourceConfig, targetConfig))) {
    io.err(`source and target are the same database (${from})`);
    return 2;
  }
  if (sourceConfig.kind === 'pglite' && sourceConfig.dataDir === undefined) {
    io.err('--from pglite:// needs a directory (an in-memory database has nothing to copy)');
    return 2;
  }
  io.err(`source: ${from}`);
  io.err(`target: ${to}`);
  // The source is read, never changed: not created, not migrated (an older schema is refused).
  let source: Awaited<ReturnType<typeof openDatabase>>;
  try {
    source = await openDatabase(sourceConfig, { schema: 'require-current' });
  } catch (error) {
    io.err(`cannot read the source ${from}: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
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

/** True when both are embedded databases in one directory, however spelled (relative, symlinked). */
async function sameDirectory(a: DatabaseConfig, b: DatabaseConfig): Promise<boolean> {
  if (a.kind !== 'pglite' || b.kind !== 'pglite' || a.dataDir === undefined || b.dataDir === undefined) return false;
  const real = (dir: string): Promise<string> => realpath(dir).catch(() => resolve(dir));
  return (await real(a.dataDir)) === (await real(b.dataDir));
}
