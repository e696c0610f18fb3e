/**
 * Many requests in flight at once are normal (a push uploads in parallel, watchers long-poll): the
 * server must not warn about a "possible memory leak" for them. connect-es adds one listener per
 * request to the server's shutdown signal (core/net/shutdown-controller.ts).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestControlPlane, type TestControlPlane } from './harness.ts';

let t: TestControlPlane;
beforeAll(async () => {
  t = await startTestControlPlane({});
});
afterAll(() => t?.close());

it('serves 32 concurrent long-polls without a MaxListenersExceededWarning', async () => {
  const warnings: Error[] = [];
  const onWarning = (warning: Error): void => void warnings.push(warning);
  process.on('warning', onWarning);
  try {
    const ci = t.registry('ci');
    const head = (await ci.listEvents({ since: 0n, limit: 1000 })).events.length;
    // Every call waits for an event after the current head; one CreatePackage then wakes them all.
    const polls = Array.from({ length: 32 }, () => ci.listEvents({ since: BigInt(head), limit: 10, wait: { seconds: 10n, nanos: 0 } }));
    await new Promise((resolve) => setTimeout(resolve, 200));
    await ci.createPackage({ producer: 'p', subject: 'wake', retentionClass: 'transient' });
    for (const answer of await Promise.all(polls)) expect(answer.events.map((e) => e.type)).toContain('v1.package.created');
    await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
  } finally {
    process.off('warning', onWarning);
  }
  expect(warnings.map((w) => w.name)).not.toContain('MaxListenersExceededWarning');
});
