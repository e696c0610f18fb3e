// The local backend as an unprivileged user: the staged file must stay writable for the writer's second
// (direct I/O) handle, and the committed object must still end up read-only. Tests usually run as root,
// who may open any file for writing, so this one drops to `nobody` in a child process.
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';

const NOBODY = 65534;
const isRoot = process.getuid?.() === 0;

it.skipIf(!isRoot)('stores and reads back a multi-block object as an unprivileged user, read-only once committed', async () => {
  const root = await mkdtemp(join(tmpdir(), 'artifact-store-non-root-'));
  try {
    await chmod(root, 0o777);
    const script = join(import.meta.dirname, 'fixtures', 'write-large-object.ts');
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, ['--import', 'tsx', script, root], { uid: NOBODY, gid: NOBODY, env: { ...process.env, HOME: tmpdir() }, timeout: 60_000 }, (error, out, err) =>
        error === null ? resolve(out) : reject(new Error(`${error.message}\n${err}`)),
      );
    });
    const result = JSON.parse(stdout) as { sha256: string; expected: string; mode: number };
    expect(result.sha256).toBe(result.expected);
    expect(result.mode).toBe(0o444);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
