/**
 * Work a backend goes on with after the operation that started it has answered (`StorageBackend.settle`).
 * Each piece is tracked until it ends; `settled` waits for every piece, including pieces started while it
 * waits. A piece's failure is the piece's own business (it is caught where it is started): tracking
 * never rejects.
 */

/** The tracker of one backend. */
export interface BackgroundWork {
  /** Tracks `work` until it ends. */
  track(work: Promise<unknown>): void;
  /** Resolves once nothing tracked is running. */
  settled(): Promise<void>;
}

/** Creates a tracker. */
export function createBackgroundWork(): BackgroundWork {
  const running = new Set<Promise<unknown>>();
  return {
    track(work) {
      const tracked = work.then(
        () => undefined,
        () => undefined,
      );
      running.add(tracked);
      void tracked.then(() => running.delete(tracked));
    },
    async settled() {
      while (running.size > 0) await Promise.all(running);
    },
  };
}
