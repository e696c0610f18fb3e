/**
 * A `grpc-timeout` longer than a timer can wait (2^31 - 1 ms, about 24.8 days) is read as that long.
 * connect-node hands the value to `setTimeout`, which fires a longer timer at once (with a
 * TimeoutOverflowWarning), so a client asking for a month (`720H`) had its call fail with
 * DEADLINE_EXCEEDED before it began. The data plane caps the header before any handler (connect-node's
 * or the WriteFile fast path's) reads it.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { parseTimeout } from '@connectrpc/connect/protocol-grpc';

/** The longest wait a Node timer can take. */
const LONGEST_TIMER_MS = 2 ** 31 - 1;
/** What a longer `grpc-timeout` becomes: 596 hours, 2,145,600,000 ms. */
export const LONGEST_GRPC_TIMEOUT = '596H';

/** Rewrites a `grpc-timeout` header longer than {@link LONGEST_GRPC_TIMEOUT} to it; leaves any other (or a malformed one) as it is. */
export function capGrpcTimeout(headers: IncomingHttpHeaders): void {
  const value = headers['grpc-timeout'];
  if (typeof value !== 'string') return;
  const { timeoutMs } = parseTimeout(value, Number.MAX_SAFE_INTEGER);
  if (timeoutMs !== undefined && timeoutMs > LONGEST_TIMER_MS) headers['grpc-timeout'] = LONGEST_GRPC_TIMEOUT;
}
