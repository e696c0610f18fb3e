// Property: whatever random upload-session lifecycle clients drive (chunks in and out of order, gaps,
// repeats, aborts, completes, chunks of two sessions at once), the only files that ever become visible
// are completed sessions' files, with exactly the bytes sent and correct digests; closed sessions leave
// no parts behind. Real control plane + data plane; a small model predicts every status code.
import { createHash } from 'node:crypto';
import { hash as blake3 } from 'blake3';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { bytesOf, rawRequest, startCluster, TOKEN_A, type Cluster, type RawResponse } from './cluster.ts';

type Op =
  | { readonly kind: 'open'; readonly size: number; readonly announceSize: boolean; readonly sha: 'none' | 'right' | 'wrong' }
  | { readonly kind: 'patch'; readonly s: number; readonly len: number; readonly at: 'current' | 'gap' | 'repeat' }
  | { readonly kind: 'patch-two'; readonly s: number; readonly t: number; readonly len: number }
  | { readonly kind: 'head'; readonly s: number }
  | { readonly kind: 'complete'; readonly s: number }
  | { readonly kind: 'abort'; readonly s: number };

interface ModelSession {
  readonly id: string;
  readonly path: string;
  readonly data: Uint8Array;
  readonly announceSize: boolean;
  readonly sha: 'none' | 'right' | 'wrong';
  offset: number;
  status: 'open' | 'completed' | 'aborted';
}

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('open' as const), size: fc.nat(6000), announceSize: fc.boolean(), sha: fc.constantFrom('none' as const, 'right' as const, 'wrong' as const) }) },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('patch' as const), s: fc.nat(7), len: fc.integer({ min: 1, max: 2500 }), at: fc.constantFrom('current' as const, 'current' as const, 'gap' as const, 'repeat' as const) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('patch-two' as const), s: fc.nat(7), t: fc.nat(7), len: fc.integer({ min: 1, max: 2500 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('head' as const), s: fc.nat(7) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('complete' as const), s: fc.nat(7) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('abort' as const), s: fc.nat(7) }) },
);

const auth = { authorization: `Bearer ${TOKEN_A}` };
const sha256 = (b: Uint8Array): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

let cluster: Cluster;
let url: string;
beforeAll(async () => {
  cluster = await startCluster();
  url = cluster.dataPlane.url;
});
afterAll(async () => {
  await cluster.close();
});

async function patch(session: ModelSession, start: number, bytes: Uint8Array): Promise<RawResponse> {
  const total = session.announceSize ? String(session.data.byteLength) : '*';
  return rawRequest(url, 'PATCH', `/uploads/${session.id}`, { ...auth, 'content-range': `bytes ${start}-${start + bytes.byteLength - 1}/${total}`, 'content-length': String(bytes.byteLength) }, bytes);
}

/** Sends the next chunk of `session` at its current offset; returns the expected status and the model update. */
function nextChunk(session: ModelSession, len: number): { start: number; bytes: Uint8Array } | undefined {
  const bytes = session.data.subarray(session.offset, session.offset + len);
  return bytes.byteLength === 0 ? undefined : { start: session.offset, bytes };
}

async function visibleFiles(pkg: string): Promise<Map<string, { sha256: string; blake3: string; size: bigint; fileId: string }>> {
  const { files } = await cluster.registry.listFiles({ packageId: pkg });
  return new Map(files.map((f) => [f.relativePath, { sha256: f.digests?.sha256 ?? '', blake3: f.digests?.blake3 ?? '', size: f.digests?.size ?? -1n, fileId: f.fileId }]));
}

async function checkVisible(pkg: string, sessions: readonly ModelSession[]): Promise<void> {
  const visible = await visibleFiles(pkg);
  const completed = sessions.filter((s) => s.status === 'completed');
  expect([...visible.keys()].sort()).toEqual(completed.map((s) => s.path).sort());
  for (const s of completed) {
    const file = visible.get(s.path);
    const content = s.data.subarray(0, s.offset);
    expect(file?.sha256).toBe(sha256(content));
    expect(file?.blake3).toBe(`blake3:${Buffer.from(blake3(content)).toString('hex')}`);
    const res = await rawRequest(url, 'GET', `/files/${file?.fileId ?? ''}/download`, auth);
    expect(res.status).toBe(200);
    expect(Buffer.compare(res.body, content)).toBe(0);
  }
}

async function partsOf(session: ModelSession): Promise<string[]> {
  return (await cluster.storedFiles()).filter((f) => f.startsWith(`uploads/${session.id.toLowerCase()}/`));
}

it('only completed, correctly hashed uploads ever become visible', async () => {
  let run = 0;
  // What the runs exercised, so a generator that stops producing interesting cases fails loudly.
  const seen = new Map<string, number>();
  const saw = (what: string): void => void seen.set(what, (seen.get(what) ?? 0) + 1);
  await fc.assert(
    fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 24 }), async (ops) => {
      run++;
      const pkg = await cluster.createPackage();
      const sessions: ModelSession[] = [];
      const pick = (i: number): ModelSession | undefined => (sessions.length === 0 ? undefined : sessions[i % sessions.length]);
      for (const o of ops) {
        switch (o.kind) {
          case 'open': {
            const data = bytesOf(o.size, run * 1000 + sessions.length + 1);
            const body: Record<string, unknown> = { package_id: pkg, relative_path: `f${sessions.length}.bin` };
            if (o.announceSize) body['expected_size'] = o.size;
            if (o.sha === 'right') body['expected_sha256'] = sha256(data);
            if (o.sha === 'wrong') body['expected_sha256'] = sha256(bytesOf(o.size + 1, 7));
            const res = await rawRequest(url, 'POST', '/uploads', { ...auth, 'content-type': 'application/json' }, Buffer.from(JSON.stringify(body)));
            expect(res.status).toBe(201);
            const { upload_id: id } = JSON.parse(res.body.toString()) as { upload_id: string };
            sessions.push({ id, path: `f${sessions.length}.bin`, data, announceSize: o.announceSize, sha: o.sha, offset: 0, status: 'open' });
            break;
          }
          case 'patch': {
            const s = pick(o.s);
            if (s === undefined) break;
            if (o.at === 'current') {
              const chunk = nextChunk(s, o.len);
              if (chunk === undefined) break;
              const res = await patch(s, chunk.start, chunk.bytes);
              if (s.status === 'open') {
                expect(res.status).toBe(204);
                s.offset += chunk.bytes.byteLength;
                expect(res.headers['upload-offset']).toBe(String(s.offset));
                saw('chunk');
              } else {
                expect(res.status).toBe(409);
              }
            } else {
              // A gap after the offset, or a repeat of bytes already held: never accepted.
              const start = o.at === 'repeat' && s.offset > 0 ? Math.max(0, s.offset - o.len) : s.offset + 1;
              const bytes = bytesOf(Math.min(o.len, Math.max(1, s.data.byteLength - start)), 5);
              if (s.announceSize && start + bytes.byteLength > s.data.byteLength) break;
              const res = await patch(s, start, bytes);
              expect(res.status).toBe(s.status === 'open' ? 416 : 409);
              saw(s.status === 'open' ? `416-${o.at}` : 'chunk-after-close');
              if (s.status === 'open') expect(res.headers['upload-offset']).toBe(String(s.offset));
            }
            break;
          }
          case 'patch-two': {
            const s = pick(o.s);
            const t = pick(o.t);
            if (s === undefined || t === undefined || s === t) break;
            const a = nextChunk(s, o.len);
            const b = nextChunk(t, o.len);
            if (a === undefined || b === undefined) break;
            const [ra, rb] = await Promise.all([patch(s, a.start, a.bytes), patch(t, b.start, b.bytes)]);
            for (const [session, res, chunk] of [[s, ra, a] as const, [t, rb, b] as const]) {
              expect(res.status).toBe(session.status === 'open' ? 204 : 409);
              if (session.status === 'open') session.offset += chunk.bytes.byteLength;
            }
            saw('concurrent');
            break;
          }
          case 'head': {
            const s = pick(o.s);
            if (s === undefined) break;
            const res = await rawRequest(url, 'HEAD', `/uploads/${s.id}`, auth);
            if (s.status === 'aborted') expect(res.status).toBe(409);
            else {
              expect(res.status).toBe(200);
              expect(res.headers['upload-status']).toBe(s.status);
              if (s.status === 'open') expect(res.headers['upload-offset']).toBe(String(s.offset));
            }
            break;
          }
          case 'complete': {
            const s = pick(o.s);
            if (s === undefined) break;
            const res = await rawRequest(url, 'POST', `/uploads/${s.id}/complete`, auth);
            const whole = s.offset === s.data.byteLength;
            if (s.status !== 'open') expect(res.status).toBe(409);
            else if ((s.announceSize && !whole) || s.sha === 'wrong' || (s.sha === 'right' && !whole)) {
              expect(res.status).toBe(422);
              expect(['size-mismatch', 'digest-mismatch']).toContain((JSON.parse(res.body.toString()) as { code: string }).code);
              saw('rejected-complete');
            } else {
              expect(res.status).toBe(201);
              s.status = 'completed';
              expect(await partsOf(s)).toEqual([]);
              saw(s.offset > 0 ? 'completed' : 'completed-empty');
            }
            await checkVisible(pkg, sessions);
            break;
          }
          case 'abort': {
            const s = pick(o.s);
            if (s === undefined) break;
            const res = await rawRequest(url, 'DELETE', `/uploads/${s.id}`, auth);
            if (s.status === 'completed') expect(res.status).toBe(409);
            else {
              expect(res.status).toBe(204);
              s.status = 'aborted';
              expect(await partsOf(s)).toEqual([]);
              saw('aborted');
            }
            await checkVisible(pkg, sessions);
            break;
          }
        }
      }
      await checkVisible(pkg, sessions);
      for (const s of sessions) {
        if (s.status === 'open') expect((await rawRequest(url, 'DELETE', `/uploads/${s.id}`, auth)).status).toBe(204);
      }
      expect((await cluster.storedFiles()).filter((f) => f.startsWith('uploads/'))).toEqual([]);
    }),
    {
      numRuns: 100,
      // Random runs reach a complete, correctly hashed multi-chunk upload only now and then; these
      // examples make sure every run of the suite covers that path (and a concurrent pair) as well.
      examples: [
        [
          [
            { kind: 'open', size: 3000, announceSize: true, sha: 'right' },
            { kind: 'patch', s: 0, len: 1200, at: 'current' },
            { kind: 'patch', s: 0, len: 2500, at: 'current' },
            { kind: 'complete', s: 0 },
          ],
        ],
        [
          [
            { kind: 'open', size: 2000, announceSize: false, sha: 'none' },
            { kind: 'open', size: 1500, announceSize: true, sha: 'right' },
            { kind: 'patch-two', s: 0, t: 1, len: 2500 },
            { kind: 'complete', s: 0 },
            { kind: 'complete', s: 1 },
          ],
        ],
      ],
    },
  );
  for (const what of ['chunk', '416-gap', '416-repeat', 'concurrent', 'completed', 'rejected-complete', 'aborted']) expect(seen.get(what) ?? 0, what).toBeGreaterThan(0);
}, 240_000);
