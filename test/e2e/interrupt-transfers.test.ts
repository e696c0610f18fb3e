/**
 * Ctrl-C during a transfer, through the real processes: `push` aborts its upload, says which package it
 * left open (not finalized) and exits 130; `pull` aborts its download, leaves no temporary `.partial`
 * file behind and exits 130 (`cli/interrupt.ts`). Each CLI is frozen with SIGSTOP the moment it is seen
 * mid-transfer, given SIGINT, and let go: the signal lands mid-transfer whatever the machine's speed.
 */
import { mkdir, mkdtemp, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCliProcess, startService, type ServiceUnderTest } from './process-harness.ts';

let service: ServiceUnderTest | undefined;
let work: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'as-e2e-interrupt-'));
  service = await startService();
}, 120_000);

afterAll(async () => {
  await service?.stop();
  if (work !== undefined) await rm(work, { recursive: true, force: true });
});

/** Freezes `pid`, queues SIGINT, lets it go: it handles the signal where it stood. */
function interruptFrozen(pid: number): void {
  process.kill(pid, 'SIGSTOP');
  process.kill(pid, 'SIGINT');
  process.kill(pid, 'SIGCONT');
}

it('push: Ctrl-C aborts the upload in flight, names the package left open, exits 130', async () => {
  // One sparse 2 GiB file: a single PUT, in flight from the moment "created" is printed (the upload
  // starts in the same tick), and far from done when the signal lands, even if this process is slow to
  // see the line (sparse: nothing to write here, and the data plane writes only what came before).
  const source = join(work, 'one-large');
  await mkdir(source);
  await writeFile(join(source, 'big.bin'), '');
  await truncate(join(source, 'big.bin'), 2 * 1024 * 1024 * 1024);
  let interrupted = false;
  const r = await runCliProcess(['push', source, '--producer', 'ci', '--subject', 'interrupted', '--retention-class', 'transient'], service!.env, 90_000, 'source', (child) => {
    child.stderr.on('data', (text: string) => {
      if (interrupted || !/created pkg_/.test(text)) return;
      interrupted = true;
      interruptFrozen(child.pid as number);
    });
  });
  expect(interrupted).toBe(true);
  expect(r.code, r.stderr).toBe(130);
  const packageId = /created (pkg_\S+);/.exec(r.stderr)?.[1] as string;
  expect(r.stderr).toMatch(/push: interrupted, stopping the transfers/);
  expect(r.stderr).toContain(`package ${packageId} is left open (not finalized)`);
  expect(r.stderr).toMatch(/^push: stopped$/m);
  expect(r.stdout).toBe('');
  const listed = await runCliProcess(['ls', '--subject', 'interrupted', '--json'], service!.env);
  const rows = listed.stdout.trim().split('\n').map((line) => JSON.parse(line) as { package_id: string; status: string; file_count: number });
  // The upload was aborted, not finished: the package holds no file.
  expect(rows).toEqual([expect.objectContaining({ package_id: packageId, status: 'created', file_count: 0 })]);
}, 120_000);

it('pull: Ctrl-C mid-download leaves no temporary file and exits 130', async () => {
  const source = join(work, 'large');
  await mkdir(source);
  // Sparse: 768 MiB of zeros to read, none to write on this side; large enough that the download is
  // still running when this (busy) process sees its temporary file.
  await writeFile(join(source, 'big.bin'), '');
  await truncate(join(source, 'big.bin'), 768 * 1024 * 1024);
  const pushed = await runCliProcess(['push', source, '--producer', 'ci', '--subject', 'large', '--retention-class', 'transient'], service!.env);
  expect(pushed.code, pushed.stderr).toBe(0);
  const packageId = pushed.stdout.trim();
  const target = join(work, 'pulled');
  let interrupted = false;
  const r = await runCliProcess(['pull', packageId, target], service!.env, 90_000, 'source', (child) => {
    // The download's temporary file appears once the response started; poll for it.
    const poll = setInterval(() => {
      readdir(target).then(
        (names) => {
          if (interrupted || !names.some((name) => name.endsWith('.partial'))) return;
          interrupted = true;
          clearInterval(poll);
          interruptFrozen(child.pid as number);
        },
        () => undefined,
      );
    }, 2);
    child.once('exit', () => clearInterval(poll));
  });
  expect(interrupted, r.stderr).toBe(true);
  expect(r.code, r.stderr).toBe(130);
  expect(r.stderr).toMatch(/pull: interrupted, stopping the transfers/);
  expect(r.stderr).toMatch(/^pull: stopped$/m);
  expect(r.stdout).toBe('');
  expect(await readdir(target)).toEqual([]);
}, 120_000);
