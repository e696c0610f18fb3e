/**
 * The abort controller a server hands connect-es as `shutdownSignal`. connect-es links every request's
 * signal to it, one 'abort' listener per request in flight (removed when the request ends), so more than
 * ten concurrent requests made Node print "MaxListenersExceededWarning: Possible EventTarget memory
 * leak" — a false alarm in an operator's log. The limit is lifted on this one signal only.
 */
import { setMaxListeners } from 'node:events';

/** A new controller whose signal accepts any number of listeners. */
export function createShutdownController(): AbortController {
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  return controller;
}
