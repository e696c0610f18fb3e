/**
 * A call timeout longer than a timer can wait (2^31 - 1 ms, about 24.8 days) is read as that long.
 * connect-node hands the value to `setTimeout`, which fires a longer timer at once (with a
 * TimeoutOverflowWarning), so a client asking for a month had its call fail with DEADLINE_EXCEEDED
 * before it began. Both servers cap both protocols' headers before any handler (connect-node's, or the
 * data plane's WriteFile fast path) reads them: gRPC's and gRPC-Web's `grpc-timeout` (up to 8 digits
 * and a unit, e.g. `720H`) and Connect's `connect-timeout-ms` (up to 10 digits of milliseconds).
 */
import type { IncomingHttpHeaders } from 'node:http';
import { parseTimeout } from '@connectrpc/connect/protocol-grpc';

/** The longest wait a Node timer can take. */
const LONGEST_TIMER_MS = 2 ** 31 - 1;
/** What a longer `grpc-timeout` becomes: 596 hours, 2,145,600,000 ms. */
export const LONGEST_GRPC_TIMEOUT = '596H';

/**
 * Rewrites a `grpc-timeout` longer than {@link LONGEST_GRPC_TIMEOUT}, and a `connect-timeout-ms` longer
 * than 2^31 - 1, to those; leaves any other value (a malformed one included: its handler refuses it) as
 * it is.
 */
export function capCallTimeouts(headers: IncomingHttpHeaders): void {
  const grpc = headers['grpc-timeout'];
  if (typeof grpc === 'string') {
    const { timeoutMs } = parseTimeout(grpc, Number.MAX_SAFE_INTEGER);
    if (timeoutMs !== undefined && timeoutMs > LONGEST_TIMER_MS) headers['grpc-timeout'] = LONGEST_GRPC_TIMEOUT;
  }
  const connect = headers['connect-timeout-ms'];
  if (typeof connect === 'string' && /^\d{1,10}$/.test(connect) && Number(connect) > LONGEST_TIMER_MS) headers['connect-timeout-ms'] = String(LONGEST_TIMER_MS);
}
