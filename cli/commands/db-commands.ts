/**
 * Database maintenance commands: migrate, replay, audit verify. Each opens the configured database
 * directly; on embedded PGlite that is refused while the control plane (or another command) has it open
 * (`control-plane/db/directory-lock.ts`). Replay and audit verify only work on an existing database with
 * this build's schema: pointed at a wrong or missing directory they say so, rather than create an empty
 * database and report it sound.
 */
import { formatWithOptions } from 'node:util';
import { openDatabase } from '../../control-plane/db/database.ts';
import { databaseConfigFromEnv, describeDatabase } from '../../control-plane/config/database-env.ts';
import { verifyEventChain } from '../../control-plane/events/audit.ts';
import { replay } from '../../control-plane/events/replay.ts';
import type { CommandIo } from '../command-io.ts';

/** `artifactstore migrate`: apply pending migrations. */
export async function migrateCommand(io: CommandIo): Promise<number> {
  const config = databaseConfigFromEnv(io.env);
  io.err(`database: ${describeDatabase(config)}`);
  const handle = await openDatabase(config);
  await handle.close();
  io.out('schema is at the latest migration');
  return 0;
}

/** `artifactstore replay [--check]`: rebuild every view from the event log. */
export async function replayCommand(io: CommandIo, options: { check: boolean }): Promise<number> {
  const config = databaseConfigFromEnv(io.env);
  io.err(`database: ${describeDatabase(config)}`);
  const handle = await openDatabase(config, { schema: 'require-current' });
  try {
    const audit = await verifyEventChain(handle.db);
    if (!audit.ok) {
      io.err(`refusing to replay: event ${audit.sequence} fails verification (${audit.reason}): ${audit.detail}`);
      return 2;
    }
    const result = await replay(handle.db, { compare: options.check, onProgress: (n, head) => io.progress(`replayed ${n}/${head} events`) });
    io.out(`replayed ${result.events} events (head ${result.head})`);
    if (result.differing !== undefined) {
      if (result.differing.length > 0) {
        io.err(`views differed from the log before replay: ${result.differing.join(', ')} (now rebuilt from the log)`);
        return 1;
      }
      io.out('views matched the log exactly');
    }
    return 0;
  } finally {
    await handle.close();
  }
}

/** `artifactstore audit verify [--json]`: recompute the hash chain. */
export async function auditVerifyCommand(io: CommandIo, options: { json: boolean }): Promise<number> {
  const config = databaseConfigFromEnv(io.env);
  io.err(`database: ${describeDatabase(config)}`);
  const handle = await openDatabase(config, { schema: 'require-current' });
  try {
    const result = await verifyEventChain(handle.db, { onProgress: (n) => io.progress(`verified ${n} events`) });
    if (options.json) io.out(JSON.stringify(result));
    else if (result.ok) io.out(`ok: ${result.checked} events verified, head ${result.headHash}`);
    else io.out(formatWithOptions({}, 'FAILED at sequence %d (%s): %s', result.sequence, result.reason, result.detail));
    return result.ok ? 0 : 1;
  } finally {
    await handle.close();
  }
}
