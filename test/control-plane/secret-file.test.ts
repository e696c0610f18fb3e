// Tokens kept in the data directory: created whole (mode 0600) once, read back after; an empty file
// (what a power loss leaves of one whose creation never reached the disk) is replaced by a new token.
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { loadOrCreateSecret } from '../../control-plane/auth/secret-file.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'secret-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

it('creates a token once, 0600, leaving no temporary file, and reads the same one back', async () => {
  const path = join(dir, 'dev-token');
  const first = await loadOrCreateSecret(path);
  expect(first).toMatchObject({ created: true, value: expect.stringMatching(/^as_[A-Za-z0-9_-]{43}$/) as unknown });
  expect((await stat(path)).mode & 0o777).toBe(0o600);
  expect(await readdir(dir)).toEqual(['dev-token']);
  expect(await loadOrCreateSecret(path)).toEqual({ created: false, value: first.value });
  // Several starters at once agree on one token.
  const other = join(dir, 'internal-token');
  const raced = await Promise.all(Array.from({ length: 8 }, () => loadOrCreateSecret(other)));
  expect(new Set(raced.map((r) => r.value)).size).toBe(1);
  expect(raced.filter((r) => r.created)).toHaveLength(1);
});

it('replaces an empty token file (a crash during its creation) with a new token', async () => {
  const path = join(dir, 'dev-token');
  await writeFile(path, '');
  const loaded = await loadOrCreateSecret(path);
  expect(loaded.created).toBe(true);
  expect((await readFile(path, 'utf8')).trim()).toBe(loaded.value);
});

it('agrees on one new token when several starters find the same empty file at once', async () => {
  for (let round = 0; round < 20; round++) {
    const path = join(dir, `token-${round}`);
    await writeFile(path, '');
    const loaded = await Promise.all(Array.from({ length: 6 }, () => loadOrCreateSecret(path)));
    const onDisk = (await readFile(path, 'utf8')).trim();
    expect(loaded.map((l) => l.value), `round ${round}`).toEqual(loaded.map(() => onDisk));
    expect(loaded.filter((l) => l.created)).toHaveLength(1);
  }
  expect((await readdir(dir)).filter((name) => name.endsWith('.lock'))).toEqual([]);
});

