/**
 * Domain errors → transport errors, in one place. Each error gets a stable reason (`not-found`,
 * `invalid-argument`, `unauthenticated`, …) that travels with it: RPCs carry a Connect code, the
 * reason in the `artifactstore-reason` metadata and as a `[reason]` prefix of the message; HTTP
 * routes answer RFC 7807 problem+json with the reason as `code`. Anything unexpected becomes
 * `internal`: its cause is logged here and never sent.
 */
import { Code, ConnectError, type Interceptor } from '@connectrpc/connect';
import { AuthError } from '../auth/auth-error.ts';
import { RegistryError } from '../registry/registry-error.ts';

/** Header (metadata / trailer) that carries the stable reason of an RPC error. */
export const REASON_HEADER = 'artifactstore-reason';

/** Stable reasons, the closed set clients may branch on. */
export type Reason =
  | 'invalid-argument'
  | 'not-found'
  | 'already-exists'
  | 'failed-precondition'
  | 'unauthenticated'
  | 'permission-denied'
  | 'unavailable'
  | 'canceled'
  | 'deadline-exceeded'
  | 'resource-exhausted'
  | 'unimplemented'
  | 'internal';

/** Connect code and HTTP status of each reason. */
const REASONS: Record<Reason, { readonly code: Code; readonly status: number; readonly title: string }> = {
  'invalid-argument': { code: Code.InvalidArgument, status: 400, title: 'Invalid argument' },
  'not-found': { code: Code.NotFound, status: 404, title: 'Not found' },
  'already-exists': { code: Code.AlreadyExists, status: 409, title: 'Already exists' },
  'failed-precondition': { code: Code.FailedPrecondition, status: 409, title: 'Failed precondition' },
  unauthenticated: { code: Code.Unauthenticated, status: 401, title: 'Unauthenticated' },
  'permission-denied': { code: Code.PermissionDenied, status: 403, title: 'Permission denied' },
  unavailable: { code: Code.Unavailable, status: 503, title: 'Unavailable' },
  canceled: { code: Code.Canceled, status: 499, title: 'Canceled' },
  'deadline-exceeded': { code: Code.DeadlineExceeded, status: 504, title: 'Deadline exceeded' },
  'resource-exhausted': { code: Code.ResourceExhausted, status: 429, title: 'Resource exhausted' },
  unimplemented: { code: Code.Unimplemented, status: 501, title: 'Not implemented' },
  internal: { code: Code.Internal, status: 500, title: 'Internal error' },
};

const REASON_OF_CODE = new Map<Code, Reason>(Object.entries(REASONS).map(([reason, v]) => [v.code, reason as Reason]));

/** An error raised by the transport layer itself (e.g. no live data plane). */
export class ServiceError extends Error {
  override readonly name = 'ServiceError';
  readonly reason: Reason;

  constructor(reason: Reason, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.reason = reason;
  }
}

/** The classified form of any thrown value. */
export interface ClassifiedError {
  readonly reason: Reason;
  /** Safe to send: the domain message, or a generic one for internal errors. */
  readonly message: string;
}

/** Where unexpected errors are logged. */
export type ErrorLog = (line: string) => void;

/** Classifies `err`; logs (and hides) the cause of anything unexpected. */
export function classifyError(err: unknown, log: ErrorLog): ClassifiedError {
  if (err instanceof RegistryError || err instanceof AuthError) return { reason: err.code, message: err.message };
  if (err instanceof ServiceError) return { reason: err.reason, message: err.message };
  if (err instanceof ConnectError && err.code !== Code.Internal && err.code !== Code.Unknown) {
    const sent = err.metadata.get(REASON_HEADER);
    const reason = sent !== null && sent in REASONS ? (sent as Reason) : (REASON_OF_CODE.get(err.code) ?? 'internal');
    return { reason, message: err.rawMessage.replace(/^\[[a-z-]+\] /, '') };
  }
  log(`internal error: ${describe(err)}`);
  return { reason: 'internal', message: 'internal error' };
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause === undefined ? '' : ` (cause: ${describe(err.cause)})`;
  return `${err.stack ?? `${err.name}: ${err.message}`}${cause}`;
}

/** `err` as a ConnectError with its Connect code, reason metadata and `[reason]` message prefix. */
export function toConnectError(err: unknown, log: ErrorLog): ConnectError {
  const { reason, message } = classifyError(err, log);
  return new ConnectError(`[${reason}] ${message}`, REASONS[reason].code, { [REASON_HEADER]: reason });
}

/** An RFC 7807 problem document. */
export interface Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  /** The stable reason. */
  readonly code: Reason;
  readonly detail: string;
}

/** `err` as an RFC 7807 problem. */
export function toProblem(err: unknown, log: ErrorLog): Problem {
  const { reason, message } = classifyError(err, log);
  const r = REASONS[reason];
  return { type: `https://artifact-store.invalid/problems/${reason}`, title: r.title, status: r.status, code: reason, detail: message };
}

async function* mapStreamErrors<T>(source: AsyncIterable<T>, log: ErrorLog, signal: AbortSignal): AsyncGenerator<T> {
  try {
    yield* source;
  } catch (err) {
    // The client went away (cancelled, disconnected): whatever the stream met after that is no fault.
    if (signal.aborted) throw new ConnectError('[canceled] the client cancelled the call', Code.Canceled, { [REASON_HEADER]: 'canceled' });
    throw toConnectError(err, log);
  }
}

/**
 * The outermost interceptor: every error a call ends with, unary or mid-stream, leaves through
 * `toConnectError`.
 */
export function createErrorInterceptor(log: ErrorLog): Interceptor {
  return (next) => async (req) => {
    try {
      const res = await next(req);
      return res.stream ? { ...res, message: mapStreamErrors(res.message, log, req.signal) } : res;
    } catch (err) {
      throw toConnectError(err, log);
    }
  };
}
