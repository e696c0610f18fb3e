// The push walker refuses, before anything is created, names the server would refuse as package paths.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { walkDirectory, walkDirectoryDetailed, WalkError } from '../../cli/client/walk-directory.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'walk-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

it('lists regular files by package path, sorted', async () => {
  await mkdir(join(dir, 'b'));
  await writeFile(join(dir, 'b', 'x.txt'), 'x');
  await writeFile(join(dir, 'a.txt'), 'a');
  expect((await walkDirectory(dir)).map((f) => f.relativePath)).toEqual(['a.txt', 'b/x.txt']);
});

it('names every file whose name is not a valid package path, and NFC collisions', async () => {
  await writeFile(join(dir, 'back\\slash.log'), '1');
  await writeFile(join(dir, 'tab\there.txt'), '2');
  await writeFile(join(dir, 'cafe\u0301.txt'), 'nfd');
  await writeFile(join(dir, 'caf\u00e9.txt'), 'nfc');
  await writeFile(join(dir, 'fine.txt'), 'ok');
  const error = await walkDirectory(dir).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(WalkError);
  const problems = (error as WalkError).problems;
  expect((error as WalkError).code).toBe('unpushable-entries');
  expect(problems.some((p) => p.startsWith('back\\slash.log: not a valid package path'))).toBe(true);
  expect(problems.some((p) => p.startsWith('tab\there.txt: not a valid package path'))).toBe(true);
  expect(problems.filter((p) => p.includes('once normalised to Unicode NFC'))).toHaveLength(1);
  expect(problems.some((p) => p.startsWith('fine.txt'))).toBe(false);
});

it('says a file name that is not UTF-8 is not UTF-8 (not "cannot stat")', async () => {
  // Linux file names are bytes; Node reads this one back with U+FFFD in place of 0xff.
  await writeFile(Buffer.concat([Buffer.from(join(dir, 'latin1-')), Buffer.from([0xe9, 0xff]), Buffer.from('.txt')]), 'x');
  await writeFile(join(dir, 'fine.txt'), 'ok');
  const error = await walkDirectory(dir).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(WalkError);
  expect((error as WalkError).problems).toEqual(['latin1-\ufffd\ufffd.txt: the file name is not valid UTF-8 (package paths are Unicode; rename it)']);
});

it('names the directories that hold no file, outermost only, so push can say they are not stored', async () => {
  await mkdir(join(dir, 'empty', 'inside', 'deeper'), { recursive: true });
  await mkdir(join(dir, 'full', 'hollow'), { recursive: true });
  await writeFile(join(dir, 'full', 'x.txt'), 'x');
  await mkdir(join(dir, 'skipped'));
  await writeFile(join(dir, 'skipped', 'y.txt'), 'y');
  const walked = await walkDirectoryDetailed(dir, (p) => p === 'skipped/y.txt');
  expect(walked.files.map((f) => f.relativePath)).toEqual(['full/x.txt']);
  expect(walked.emptyDirectories).toEqual(['empty', 'full/hollow']);
  expect(walked.excluded).toEqual(['skipped/y.txt']);
});
