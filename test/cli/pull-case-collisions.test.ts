// `pull` onto a case-insensitive filesystem (exFAT, mounted for the test): a package holding
// `Readme.txt` and `README.txt` is refused before anything is written, instead of ending "every digest
// verified" with one of them missing. On a case-sensitive filesystem the same package pulls whole.
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { findPathCollisions } from '../../cli/client/case-collisions.ts';
import type { CommandIo } from '../../cli/command-io.ts';
import { pullPackage } from '../../cli/commands/pull.ts';
import { bytesOf, startCluster, TOKEN_A, type Cluster } from '../data-plane/cluster.ts';
import { describeCaseInsensitive, mountCaseInsensitiveDir, type CaseInsensitiveDir } from '../support/case-insensitive-dir.ts';

const PATHS = ['Readme.txt', 'README.txt', 'docs/a.txt', 'Docs/a.txt', 'Docs/b.txt', 'x/stra\u00dfe.txt', 'x/strasse.txt', 'plain.txt'];

describeCaseInsensitive('pull onto a case-insensitive filesystem', () => {
  let folding: CaseInsensitiveDir;
  let sensitive: string;
  let cluster: Cluster;
  beforeAll(async () => {
    folding = await mountCaseInsensitiveDir();
    sensitive = await mkdtemp(join(tmpdir(), 'case-sensitive-'));
    cluster = await startCluster();
  }, 60_000);
  afterAll(async () => {
    await cluster?.close();
    await folding?.close();
    await rm(sensitive, { recursive: true, force: true });
  });

  it('the test filesystem really folds case', async () => {
    await writeFile(join(folding.dir, 'Probe.txt'), 'x');
    expect(await readFile(join(folding.dir, 'PROBE.TXT'), 'utf8')).toBe('x');
    await rm(join(folding.dir, 'Probe.txt'));
  });

  it('finds exactly the pairs the filesystem merges, and leaves no probe behind', async () => {
    // ß and ss fold together in JavaScript's case mapping, but exFAT keeps them apart: the filesystem decides.
    expect(await findPathCollisions(join(folding.dir, 'not', 'yet'), PATHS)).toEqual([
      { first: 'Readme.txt', second: 'README.txt' },
      { first: 'docs/a.txt', second: 'Docs/a.txt' },
    ]);
    expect(await findPathCollisions(sensitive, PATHS)).toEqual([]);
    // Every pair of a group, every differing segment, and a file where another path needs a directory.
    const cases: [string[], { first: string; second: string }[]][] = [
      [['\u00df.txt', 'SS.txt', 'ss.txt'], [{ first: 'SS.txt', second: 'ss.txt' }]],
      [['A/\u00df', 'a/ss'], []],
      [['D/x', 'd/y', 'd/X'], [{ first: 'D/x', second: 'd/X' }]],
      [['docs', 'Docs/x'], [{ first: 'docs', second: 'Docs/x' }]],
      [['Docs/x', 'docs'], [{ first: 'Docs/x', second: 'docs' }]],
    ];
    for (const [paths, expected] of cases) {
      expect(await findPathCollisions(join(folding.dir, 'new', 'sub'), paths), paths.join(' ')).toEqual(expected);
      expect(await findPathCollisions(sensitive, paths), paths.join(' ')).toEqual([]);
    }
    expect(await readdir(folding.dir)).toEqual([]);
    expect(await readdir(sensitive)).toEqual([]);
  });

  it('refuses the pull before writing anything, and pulls the same package whole where case is kept', async () => {
    const pkg = await cluster.createPackage();
    const bodies = new Map(PATHS.map((path, i) => [path, bytesOf(100 + i, i + 1)]));
    for (const [path, bytes] of bodies) await cluster.putFile(pkg, path, bytes);
    const io: CommandIo = { out: () => undefined, err: () => undefined, progress: () => undefined, env: {} };
    const options = { packageId: pkg, force: false, concurrency: 4, url: cluster.controlPlane.url, token: TOKEN_A };

    const target = join(folding.dir, 'pulled');
    const refused = (await pullPackage(io, { ...options, directory: target }).then(
      () => undefined,
      (e: unknown) => e,
    )) as { code?: string; message?: string } | undefined;
    expect(refused?.code).toBe('path-collision');
    expect(refused?.message).toMatch(/its filesystem stores paths that differ only in case as one file, and this package holds 2 such pair\(s\): .*\. Nothing was written/);
    // Pairs in the order the registry lists the files.
    expect(refused?.message).toContain('"README.txt" and "Readme.txt"');
    expect(refused?.message).toContain('"Docs/a.txt" and "docs/a.txt"');
    expect(await readdir(folding.dir)).toEqual([]);

    const whole = join(sensitive, 'pulled');
    expect(await pullPackage(io, { ...options, directory: whole })).toBe(PATHS.length);
    for (const [path, bytes] of bodies) expect(Buffer.compare(await readFile(join(whole, path)), Buffer.from(bytes)), path).toBe(0);
  });
});
