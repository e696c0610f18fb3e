// Child process for test/db/pglite-durability.test.ts: an embedded database whose disk fails the
// fsync of a commit (EIO). It must end the process, not hang or acknowledge the commit.
import { fsyncSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { DURABLE_START_PARAMS, DurableNodeFS } from '../../control-plane/db/durable-node-fs.ts';

const dir = process.argv[2];
if (dir === undefined) throw new Error('usage: fsync-failure-child.ts DIR');
let failing = false;
const fs = new DurableNodeFS(dir, {
  fsync: (fd) => {
    if (failing) throw Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' });
    fsyncSync(fd);
  },
});
const pg = new PGlite({ fs, startParams: [...DURABLE_START_PARAMS] });
await pg.waitReady;
await pg.exec('CREATE TABLE t (x int)');
failing = true;
await pg.exec('INSERT INTO t VALUES (1)');
process.stdout.write('acknowledged\n'); // must never be reached
await pg.close();
