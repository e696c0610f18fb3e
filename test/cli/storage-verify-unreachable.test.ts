// `storage verify` against a control plane it cannot reach exits 2 (could not check), never 1, which
// means a damaged copy was found.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { storageCommand } from '../../cli/commands/storage.ts';

it('exits 2, saying why, when the control plane cannot be asked', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'as-verify-'));
  try {
    await mkdir(join(dir, 'objects'));
    const errors: string[] = [];
    const io = { out: () => undefined, err: (l: string) => errors.push(l), progress: () => undefined, env: { ARTIFACTSTORE_INTERNAL_TOKEN: 'abcdefghijklmnopqrstuvwxyz', ARTIFACTSTORE_DATA_DIR: dir } };
    expect(await storageCommand(io, ['verify', '--url', 'http://127.0.0.1:1'])).toBe(2);
    expect(errors.join('\n')).toMatch(/stopped, nothing more could be checked: .*ECONNREFUSED/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
