// A client that cancels WatchEvents mid-stream is no server fault: nothing is logged as an internal error.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestControlPlane, TRANSPORTS, type TestControlPlane } from './harness.ts';

let t: TestControlPlane;
const lines: string[] = [];
beforeAll(async () => {
  t = await startTestControlPlane({ log: (line) => lines.push(line) });
  for (let i = 0; i < 400; i++) await t.registry('ci').createPackage({ producer: 'p', subject: `s${i}`, retentionClass: 'transient' });
});
afterAll(() => t?.close());

it('logs no internal error when watchers cancel, during the backlog or while waiting, over every transport', async () => {
  for (const transport of TRANSPORTS) {
    for (let round = 0; round < 3; round++) {
      // Cancelled at the first event, while the backlog is still being sent.
      const early = new AbortController();
      await (async () => {
        for await (const _ of t.registry('ci', transport).watchEvents({ since: 0n }, { signal: early.signal })) early.abort();
      })().catch(() => undefined);
      // Cancelled while it waits for new events.
      const waiting = new AbortController();
      const watch = (async () => {
        for await (const _ of t.registry('ci', transport).watchEvents({ since: 0n }, { signal: waiting.signal })) void _;
      })().catch(() => undefined);
      await sleep(100);
      waiting.abort();
      await watch;
    }
  }
  await sleep(300);
  expect(lines.filter((line) => line.includes('internal error'))).toEqual([]);
});
