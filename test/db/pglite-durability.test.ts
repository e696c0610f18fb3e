// Embedded PGlite makes a commit durable before it returns: after a power loss (the crash image of a
// real ext4 filesystem, taken right after the commit), the acknowledged package is there. With PGlite's
// defaults (fsync off, no fsync in its Node filesystem) it was not: the WAL was in the page cache only.
import { execFile, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { createManualClock } from '../../core/time/clock.ts';
import { openDatabase } from '../../control-plane/db/database.ts';
import { createRegistry } from '../../control-plane/registry/registry.ts';
import { startControlPlane } from '../../control-plane/server/control-plane-server.ts';
import { createExt4Disk, mountExt4Image } from '../support/ext4-disk.ts';
import { describeMounting, EXT4_TOOLS } from '../support/mounts.ts';

const run = promisify(execFile);

describeMounting(EXT4_TOOLS)('embedded PGlite on a disk that loses power', () => {
  it('keeps every commit that returned: its WAL reached the disk first', async () => {
    const clock = createManualClock(new Date('2026-12-05T12:00:00.000Z'));
    const disk = await createExt4Disk();
    let acknowledged: string[] = [];
    let image: string;
    try {
      const dataDir = join(disk.dir, 'pglite');
      const handle = await openDatabase({ kind: 'pglite', dataDir });
      try {
        const registry = createRegistry({ db: handle.db, clock });
        await registry.createPackage({ tenant: 't', producer: 'p', subject: 'before the sync', retentionClass: 'transient' });
        await run('sync'); // the database and the first package are on the disk
        for (let i = 0; i < 3; i++) {
          clock.advance(1000);
          acknowledged.push((await registry.createPackage({ tenant: 't', producer: 'p', subject: `acknowledged ${i}`, retentionClass: 'transient' })).packageId);
        }
        image = await disk.crashImage(); // the power goes out now
      } finally {
        await handle.close();
      }
      const after = await mountExt4Image(image);
      try {
        const reopened = await openDatabase({ kind: 'pglite', dataDir: join(after.dir, 'pglite') });
        try {
          const registry = createRegistry({ db: reopened.db, clock });
          for (const packageId of acknowledged) expect((await registry.getPackage('t', packageId)).packageId).toBe(packageId);
        } finally {
          await reopened.close();
        }
      } finally {
        await after.close();
      }
    } finally {
      acknowledged = [];
      await disk.close();
    }
  }, 120_000);

  it('starts again after a power loss right after its first start: lock, tokens and database reached the disk', async () => {
    const disk = await createExt4Disk();
    try {
      const dataDir = join(disk.dir, 'data');
      const first = await startControlPlane({ host: '127.0.0.1', port: 0, dataDir, database: { kind: 'pglite' }, log: () => undefined });
      let image: string;
      try {
        image = await disk.crashImage(); // the power goes out now, the service running
      } finally {
        await first.close();
      }
      const after = await mountExt4Image(image);
      try {
        const lines: string[] = [];
        const again = await startControlPlane({ host: '127.0.0.1', port: 0, dataDir: join(after.dir, 'data'), database: { kind: 'pglite' }, log: (line) => lines.push(line) });
        try {
          // The token printed at the first start still works: it was on the disk before it was printed.
          expect(again.adminToken ?? (await readFile(join(after.dir, 'data', 'dev-token'), 'utf8')).trim()).toBe(first.adminToken);
        } finally {
          await again.close();
        }
      } finally {
        await after.close();
      }
    } finally {
      await disk.close();
    }
  }, 120_000);
});

describe('embedded PGlite whose disk fails an fsync', () => {
  it('ends the process with the reason instead of acknowledging, or hanging with its event loop blocked', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fsync-failure-'));
    try {
      const child = spawnSync(process.execPath, ['--import', 'tsx', 'test/support/fsync-failure-child.ts', join(dir, 'pglite')], { encoding: 'utf8', timeout: 60_000 });
      expect(child.signal).toBeNull(); // not killed by the timeout: it did not hang
      expect(child.status).toBe(70);
      expect(child.stdout).not.toContain('acknowledged');
      expect(child.stderr).toContain('the embedded database could not make a write durable (fsync failed: EIO: i/o error, fsync)');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 90_000);
});

