import { execFile } from 'node:child_process';
import { createHash as createSha256 } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { hash as blake3 } from 'blake3';
import { afterEach, describe, expect, it } from 'vitest';
import { createDualHasher } from '../../core/identity/dual-hasher.ts';
import { HashError } from '../../core/identity/hash-error.ts';
import { createHashPool, type HashPool, type HashPoolOptions } from '../../core/identity/hash-pool.ts';

const CRASHING_WORKER = new URL('./fixtures/crashing-hash-worker.js', import.meta.url);
const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

const pools: HashPool[] = [];
function pool(options: HashPoolOptions): HashPool {
  const created = createHashPool(options);
  pools.push(created);
  return created;
}
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

function sha256Hex(bytes: Uint8Array): string {
  return createSha256('sha256').update(bytes).digest('hex');
}

async function rejection(promise: Promise<unknown>): Promise<HashError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof HashError) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}

function thrown(fn: () => unknown): HashError | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof HashError) return error;
    throw error;
  }
  return undefined;
}

describe('createHashPool sessions', () => {
  it('computes the algorithms a session was opened with', async () => {
    const p = pool({ size: 1 });
    const session = p.open(['sha256', 'blake3']);
    const bytes = Uint8Array.from({ length: 100_000 }, (_, i) => i & 0xff);
    await Promise.all([session.write(bytes.subarray(0, 99)), session.write(bytes.subarray(99))]);
    const result = await session.digest();
    expect(result.size).toBe(100_000);
    expect(result.digests.get('sha256')?.hex).toBe(sha256Hex(bytes));
    expect(result.digests.get('blake3')?.hex).toBe(blake3(bytes).toString('hex'));
    expect(session.digest()).toBe(session.digest());
    expect(p.activeSessions).toBe(0);
  });

  // A Buffer too: its `slice()` is a view, and transferring that view's buffer would detach the caller's.
  it.each([
    ['Uint8Array', (size: number): Uint8Array => new Uint8Array(size)],
    ['Buffer', (size: number): Uint8Array => Buffer.alloc(size)],
  ])('copies views on ordinary buffers (%s) during write, so the caller may change them at once', async (_, make) => {
    const p = pool({ size: 1 });
    const session = p.open(['sha256']);
    const buffer = make(1000).fill(1);
    const write = session.write(buffer.subarray(10, 500));
    expect(buffer.byteLength, 'the caller keeps its buffer').toBe(1000);
    buffer.fill(2);
    await write;
    expect((await session.digest()).digests.get('sha256')?.hex).toBe(sha256Hex(new Uint8Array(490).fill(1)));
  });

  it('balances sessions by algorithm cost and honours apartFrom', () => {
    const p = pool({ size: 2 });
    const sha = p.open(['sha256']);
    const b3 = p.open(['blake3'], { apartFrom: [sha] });
    const sha2 = p.open(['sha256']);
    const b32 = p.open(['blake3'], { apartFrom: [sha2] });
    expect([sha.worker, b3.worker, sha2.worker, b32.worker]).toEqual([0, 1, 1, 0]);
    expect(p.activeSessions).toBe(4);
    for (const s of [sha, b3, sha2, b32]) s.abort();
    expect(p.activeSessions).toBe(0);
  });

  it('rejects write after digest with invalid-state, and an empty algorithm list', async () => {
    const p = pool({ size: 1 });
    const session = p.open(['blake3']);
    await session.digest();
    expect((await rejection(session.write(new Uint8Array(1)))).code).toBe('invalid-state');
    expect(thrown(() => p.open([]))?.code).toBe('invalid-state');
  });

  it('abort rejects pending calls with aborted and frees the session; the worker keeps serving others', async () => {
    const p = pool({ size: 1 });
    const doomed = p.open(['sha256']);
    const write = doomed.write(new Uint8Array(4 * 1024 * 1024));
    doomed.abort('stop');
    const error = await rejection(write);
    expect(error.code).toBe('aborted');
    expect(error.cause).toBe('stop');
    expect(await rejection(doomed.digest())).toBe(error);
    doomed.abort(); // twice is fine
    expect(p.activeSessions).toBe(0);

    const other = p.open(['sha256']);
    await other.write(Uint8Array.of(1, 2, 3));
    expect((await other.digest()).digests.get('sha256')?.hex).toBe(sha256Hex(Uint8Array.of(1, 2, 3)));
  });

  it.each([0, -1, 1.5, Number.NaN])('rejects size %s naming the option', (size) => {
    expect(() => createHashPool({ size })).toThrow(/"size"/);
  });
});

describe('createHashPool worker failures', () => {
  it.each([
    ['exits', 0xee, /exited unexpectedly with code 3/],
    ['throws', 0xef, /crashed: simulated crash/],
  ])('when a worker %s, every session it served fails with worker-failed, and a new worker takes over', async (_how, trigger, message) => {
    const p = pool({ size: 1, workerUrl: CRASHING_WORKER });
    const bystander = p.open(['sha256']);
    const bystanderWrite = bystander.write(new Uint8Array(100));
    const victim = p.open(['sha256', 'blake3']);
    const fatal = victim.write(Uint8Array.of(trigger));

    // An exit stops the worker before it acknowledges the fatal write; an uncaught throw surfaces a tick
    // later (EventTarget reports listener errors asynchronously), so that write may still be acknowledged.
    // What must hold either way: every later call fails with one worker-failed error, and nothing hangs.
    const error = await rejection(victim.digest());
    expect(error.code).toBe('worker-failed');
    expect(error.message).toMatch(message);
    await fatal.catch((cause: unknown) => expect(cause).toBe(error));
    // Whether the bystander's acknowledgement arrives before the crash report is not ordered either
    // (different ports), but its hash state died with the worker, so its digest fails the same way.
    await bystanderWrite.catch((cause: unknown) => expect(cause).toBe(error));
    expect(await rejection(bystander.digest())).toBe(error);
    expect(await rejection(victim.write(new Uint8Array(1)))).toBe(error);
    expect(p.activeSessions).toBe(0);

    const next = p.open(['sha256']);
    await next.write(Uint8Array.of(1));
    expect((await next.digest()).digests.get('sha256')?.hex).toBe(sha256Hex(Uint8Array.of(1)));
  });

  it('a crash under a dual hasher sticks: update and digest reject with the same error', async () => {
    const p = pool({ size: 2, workerUrl: CRASHING_WORKER });
    const hasher = createDualHasher(p, { inlineBytes: 0, batchBytes: 1024 });
    await hasher.update(new Uint8Array(1024).fill(0xee)); // accepted (copied); the crash comes later
    const error = await rejection(hasher.digest());
    expect(error.code).toBe('worker-failed');
    expect(await rejection(hasher.update(new Uint8Array(1)))).toBe(error);
    expect(await rejection(hasher.digest())).toBe(error);
    expect(p.activeSessions).toBe(0);
  });

  it('close fails open sessions with pool-closed and refuses new ones', async () => {
    const p = pool({ size: 1 });
    const session = p.open(['sha256']);
    const write = session.write(new Uint8Array(1024 * 1024));
    const closed = p.close();
    expect(p.close()).toBe(closed);
    expect((await rejection(write)).code).toBe('pool-closed');
    await closed;
    expect(thrown(() => p.open(['sha256']))?.code).toBe('pool-closed');
    const hasher = createDualHasher(p, { inlineBytes: 0 });
    expect((await rejection(hasher.update(new Uint8Array(1)))).code).toBe('pool-closed');
  });
});

describe('createHashPool process lifetime', () => {
  it('keeps the process alive while hashing and lets it exit when idle, under node --import tsx', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'test/identity/fixtures/hash-then-exit.ts'], {
      cwd: REPO_ROOT,
      timeout: 30_000,
    });
    const bytes = new Uint8Array(32 * 1024 * 1024).fill(7);
    expect(stdout.trim()).toBe(`sha256:${sha256Hex(bytes)} blake3:${blake3(bytes).toString('hex')} ${bytes.byteLength}`);
  });

  it('closing a pool while its workers are inside the blake3 addon never takes the process down', async () => {
    // The fixture closes 40 busy pools (half of them before their workers have loaded). Terminating the
    // workers from outside aborted the process in about half of such runs (FATAL ERROR ... napi_throw);
    // close now asks each worker to end itself between two messages.
    const run = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'test/identity/fixtures/close-while-busy.ts'], {
      cwd: REPO_ROOT,
      timeout: 90_000,
    }).catch((error: unknown) => error as { stdout?: string; stderr?: string; signal?: string; code?: number });
    expect({ stdout: run.stdout?.trim(), fatal: /FATAL ERROR.*/.exec(run.stderr ?? '')?.[0] }).toEqual({ stdout: 'ok', fatal: undefined });
  }, 120_000);
});
