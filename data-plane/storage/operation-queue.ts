/**
 * Runs a writer's operations one after another, in call order, whether or not the caller awaits each
 * one (the StorageWriter contract lets writes overlap; `commit` and `cancel` queue behind them). A failed
 * operation rejects its own promise and does not stop the queue: the writer's sticky-error state decides
 * what the next operation does.
 */
export type OperationQueue = <T>(operation: () => Promise<T>) => Promise<T>;

/** Creates an empty queue. */
export function createOperationQueue(): OperationQueue {
  let last: Promise<unknown> = Promise.resolve();
  return (operation) => {
    const run = last.then(operation);
    last = run.catch(() => undefined);
    return run;
  };
}
