// The tracker behind StorageBackend.settle: settled() waits for every tracked piece of work, also for
// pieces tracked while it waits, and never rejects, whatever the work does.
import { describe, expect, it } from 'vitest';
import { createDeferred } from '../../core/identity/deferred.ts';
import { createBackgroundWork } from '../../data-plane/storage/background-work.ts';

describe('createBackgroundWork', () => {
  it('settles at once with nothing tracked', async () => {
    await createBackgroundWork().settled();
  });

  it('waits for every piece, including one tracked while it waits, and ignores failures', async () => {
    const work = createBackgroundWork();
    const first = createDeferred<void>();
    const second = createDeferred<void>();
    const later = createDeferred<void>();
    work.track(first.promise);
    work.track(second.promise);
    let done = false;
    const settled = work.settled().then(() => (done = true));
    first.resolve();
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(done).toBe(false); // the second is still running
    work.track(later.promise);
    second.reject(new Error('removal failed'));
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(done).toBe(false); // the one tracked while waiting is still running
    later.resolve();
    await settled;
    expect(done).toBe(true);
  });
});
