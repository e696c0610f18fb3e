/**
 * The one place where every error a data-plane request can meet becomes an HTTP status, a Connect code
 * and a stable `code` string. HTTP routes render the result as RFC 7807 problem+json (`http/problem.ts`);
 * the gRPC service throws it as a ConnectError (`toConnectError`). Tables are `Record`s over each closed
 * code set, so adding a code anywhere fails to compile until it is mapped here.
 *
 * Messages of our own error types are written for clients and are passed on as `detail`. Anything
 * unexpected becomes `internal` with a generic detail; the original stays in `cause` for the log only.
 */
import { Code, ConnectError } from '@connectrpc/connect';
import { HashError, type HashErrorCode } from '../../core/identity/hash-error.ts';
import { RelativePathError } from '../../core/paths/relative-path.ts';
import { IngestError, type IngestErrorCode } from '../ingest/ingest-error.ts';
import { StorageError, type StorageErrorCode } from '../storage/errors.ts';
import { DataPlaneError, type DataPlaneErrorCode, type DataPlaneErrorFacts } from './data-plane-error.ts';

/** How one failure is reported on both edges. */
export interface ClassifiedError {
  /** HTTP status. */
  readonly status: number;
  /** Connect / gRPC code. */
  readonly connectCode: Code;
  /** Stable, machine-readable reason (kebab-case). */
  readonly code: string;
  /** Short summary of the kind of problem. */
  readonly title: string;
  /** Human explanation of this occurrence; safe to send. */
  readonly detail: string;
  /** Headers-worth of facts (offset, size, allowed methods). */
  readonly facts: DataPlaneErrorFacts;
  /** True for failures worth logging as server faults (5xx). */
  readonly serverFault: boolean;
}

/**
 * Header that carries the stable `code` on RPC errors (Connect metadata / gRPC trailers); the same one
 * the control plane uses, so its reasons pass through unchanged. RPC messages also start with `[code] `.
 */
export const ERROR_CODE_HEADER = 'artifactstore-reason';

interface Row {
  readonly status: number;
  readonly connectCode: Code;
  readonly title: string;
}

const DATA_PLANE: Record<DataPlaneErrorCode, Row> = {
  'bad-request': { status: 400, connectCode: Code.InvalidArgument, title: 'Bad request' },
  'invalid-content-range': { status: 400, connectCode: Code.InvalidArgument, title: 'Invalid Content-Range' },
  'offset-mismatch': { status: 416, connectCode: Code.FailedPrecondition, title: 'Chunk does not start at the current offset' },
  'range-not-satisfiable': { status: 416, connectCode: Code.OutOfRange, title: 'Range not satisfiable' },
  'incomplete-body': { status: 400, connectCode: Code.InvalidArgument, title: 'Request body ended early' },
  'payload-too-large': { status: 413, connectCode: Code.ResourceExhausted, title: 'Payload too large' },
  'route-not-found': { status: 404, connectCode: Code.NotFound, title: 'No such route' },
  'method-not-allowed': { status: 405, connectCode: Code.Unimplemented, title: 'Method not allowed' },
  'upload-closed': { status: 409, connectCode: Code.FailedPrecondition, title: 'Upload session is closed' },
  'upload-expired': { status: 410, connectCode: Code.FailedPrecondition, title: 'Upload session expired' },
  conflict: { status: 409, connectCode: Code.Aborted, title: 'Concurrent write' },
  'backend-unavailable': { status: 503, connectCode: Code.Unavailable, title: 'Storage backend not served here' },
  'upload-corrupt': { status: 500, connectCode: Code.DataLoss, title: 'Upload parts are inconsistent' },
  'invalid-archive': { status: 400, connectCode: Code.InvalidArgument, title: 'Invalid batch archive' },
  'too-many-files': { status: 413, connectCode: Code.ResourceExhausted, title: 'Too many files in one batch' },
};

const INGEST: Record<IngestErrorCode, Row> = {
  'digest-mismatch': { status: 422, connectCode: Code.InvalidArgument, title: 'Digest mismatch' },
  'size-mismatch': { status: 422, connectCode: Code.InvalidArgument, title: 'Size mismatch' },
  'too-large': { status: 413, connectCode: Code.ResourceExhausted, title: 'Payload too large' },
  'invalid-expectation': { status: 400, connectCode: Code.InvalidArgument, title: 'Malformed expected digest or size' },
};

const STORAGE: Record<StorageErrorCode, Row> = {
  // A recorded file whose bytes are missing is a server fault, never the client's "not found".
  'not-found': { status: 500, connectCode: Code.DataLoss, title: 'Stored bytes are missing' },
  'invalid-key': { status: 500, connectCode: Code.Internal, title: 'Invalid storage key' },
  'invalid-range': { status: 416, connectCode: Code.OutOfRange, title: 'Range not satisfiable' },
  integrity: { status: 500, connectCode: Code.DataLoss, title: 'Stored bytes failed an integrity check' },
  unavailable: { status: 503, connectCode: Code.Unavailable, title: 'Storage unavailable' },
  'resource-exhausted': { status: 507, connectCode: Code.ResourceExhausted, title: 'Storage full' },
  aborted: { status: 499, connectCode: Code.Canceled, title: 'Request aborted' },
  'failed-precondition': { status: 500, connectCode: Code.Internal, title: 'Storage misuse' },
  internal: { status: 500, connectCode: Code.Internal, title: 'Storage failure' },
};

const HASH: Record<HashErrorCode, Row> = {
  'worker-failed': { status: 503, connectCode: Code.Unavailable, title: 'Hashing failed' },
  'pool-closed': { status: 503, connectCode: Code.Unavailable, title: 'Server shutting down' },
  aborted: { status: 499, connectCode: Code.Canceled, title: 'Request aborted' },
  integrity: { status: 500, connectCode: Code.Internal, title: 'Hashing integrity failure' },
  'invalid-state': { status: 500, connectCode: Code.Internal, title: 'Hashing failure' },
};

/** Connect codes the control plane answers with, as HTTP statuses (Connect's own mapping, plus 499). */
const CONNECT: Record<Code, Row & { readonly code: string }> = {
  [Code.Canceled]: { status: 499, connectCode: Code.Canceled, code: 'canceled', title: 'Request canceled' },
  [Code.Unknown]: { status: 502, connectCode: Code.Unavailable, code: 'control-plane-unavailable', title: 'Control plane failed' },
  [Code.InvalidArgument]: { status: 400, connectCode: Code.InvalidArgument, code: 'invalid-argument', title: 'Invalid argument' },
  [Code.DeadlineExceeded]: { status: 504, connectCode: Code.DeadlineExceeded, code: 'deadline-exceeded', title: 'Deadline exceeded' },
  [Code.NotFound]: { status: 404, connectCode: Code.NotFound, code: 'not-found', title: 'Not found' },
  [Code.AlreadyExists]: { status: 409, connectCode: Code.AlreadyExists, code: 'already-exists', title: 'Already exists' },
  [Code.PermissionDenied]: { status: 403, connectCode: Code.PermissionDenied, code: 'permission-denied', title: 'Permission denied' },
  [Code.ResourceExhausted]: { status: 429, connectCode: Code.ResourceExhausted, code: 'resource-exhausted', title: 'Resource exhausted' },
  [Code.FailedPrecondition]: { status: 409, connectCode: Code.FailedPrecondition, code: 'failed-precondition', title: 'Failed precondition' },
  [Code.Aborted]: { status: 409, connectCode: Code.Aborted, code: 'aborted', title: 'Aborted' },
  [Code.OutOfRange]: { status: 400, connectCode: Code.OutOfRange, code: 'out-of-range', title: 'Out of range' },
  [Code.Unimplemented]: { status: 501, connectCode: Code.Unimplemented, code: 'unimplemented', title: 'Not implemented' },
  [Code.Internal]: { status: 502, connectCode: Code.Internal, code: 'control-plane-error', title: 'Control plane error' },
  [Code.Unavailable]: { status: 503, connectCode: Code.Unavailable, code: 'control-plane-unavailable', title: 'Control plane unavailable' },
  [Code.DataLoss]: { status: 500, connectCode: Code.DataLoss, code: 'data-loss', title: 'Data loss' },
  [Code.Unauthenticated]: { status: 401, connectCode: Code.Unauthenticated, code: 'unauthenticated', title: 'Unauthenticated' },
};

const NOT_REACHED = new Set<Code>([Code.Unavailable, Code.Aborted, Code.Unknown, Code.Internal, Code.DeadlineExceeded]);

/** Classifies any thrown value; see the file comment. */
export function classifyError(error: unknown): ClassifiedError {
  if (error instanceof DataPlaneError) return own(DATA_PLANE[error.code], error.code, error.message, error.facts);
  if (error instanceof IngestError) return own(INGEST[error.code], error.code, error.message);
  if (error instanceof RelativePathError) return own({ status: 400, connectCode: Code.InvalidArgument, title: 'Invalid relative path' }, error.code, error.message);
  if (error instanceof StorageError) {
    const row = STORAGE[error.code];
    // Storage messages may name keys; only client-caused ones are worth showing.
    const detail = error.code === 'invalid-range' || error.code === 'aborted' || error.code === 'resource-exhausted' ? error.message : row.title;
    return own(row, `storage-${error.code}`, detail);
  }
  if (error instanceof HashError) return own(HASH[error.code], `hash-${error.code}`, HASH[error.code].title);
  if (error instanceof ConnectError) {
    // Raised by our own client transport, not answered by the control plane: it could not be reached
    // (refused, reset, stale keep-alive socket), or the call timed out.
    if (!error.isWireError && NOT_REACHED.has(error.code)) {
      return own(CONNECT[Code.Unavailable], 'control-plane-unavailable', 'the control plane cannot be reached; retry later');
    }
    const row = CONNECT[error.code];
    // The control plane's stable reason rides along in metadata; keep it so clients see one vocabulary.
    const reason = error.metadata.get(ERROR_CODE_HEADER) ?? row.code;
    const fault = row.status >= 500;
    return { ...row, code: reason, detail: fault ? row.title : error.rawMessage.replace(/^\[[a-z0-9-]+\] /, ''), facts: {}, serverFault: fault };
  }
  return { status: 500, connectCode: Code.Internal, code: 'internal', title: 'Internal error', detail: 'internal error', facts: {}, serverFault: true };
}

/** The classified error as a ConnectError for the gRPC edge; the original stays in `cause`. */
export function toConnectError(error: unknown): ConnectError {
  // Our own, passed on as it is. Not one the control plane answered (a wire error): connect-es sends no
  // metadata of such an error, so its reason would be lost; it is rebuilt from the classification below.
  if (error instanceof ConnectError && !error.isWireError && error.metadata.has(ERROR_CODE_HEADER)) return error;
  const classified = classifyError(error);
  return new ConnectError(`[${classified.code}] ${classified.detail}`, classified.connectCode, { [ERROR_CODE_HEADER]: classified.code }, undefined, error);
}

function own(row: Row, code: string, detail: string, facts: DataPlaneErrorFacts = {}): ClassifiedError {
  return { ...row, code, detail, facts, serverFault: row.status >= 500 };
}
