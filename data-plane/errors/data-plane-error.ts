/**
 * Errors the data plane itself raises at its edges (HTTP and gRPC): malformed requests, offsets that do
 * not match an upload session, ranges that cannot be served. Errors from the layers below pass through
 * as their own types (IngestError, StorageError, HashError, RelativePathError, ConnectError from the
 * control plane) and are all translated in one place, `classify-error.ts`.
 */
import { CodedError } from '../../core/errors/coded-error.ts';

/** Every data-plane error code; the `code` member of a problem document. */
export const DATA_PLANE_ERROR_CODES = [
  /** A header, query parameter or JSON body is malformed or missing. */
  'bad-request',
  /** A `Content-Range` header is malformed or disagrees with `Content-Length` or the session. */
  'invalid-content-range',
  /** A chunk does not start at the session's current offset (the response carries the offset). */
  'offset-mismatch',
  /** A `Range` cannot be satisfied (starts at or past the end). */
  'range-not-satisfiable',
  /** The request body ended before the declared length. */
  'incomplete-body',
  /** The body is larger than the server accepts. */
  'payload-too-large',
  /** No route matches the path. */
  'route-not-found',
  /** The route exists but not for this method. */
  'method-not-allowed',
  /** The upload session is completed or aborted. */
  'upload-closed',
  /** The upload session passed its deadline (`expires_at`) before it completed; start a new one (its parts are deleted by the first request that meets the session after a one-hour grace period). */
  'upload-expired',
  /** Another request wrote the same chunk concurrently; ask for the offset and retry. */
  'conflict',
  /** The file's bytes or the session's parts live on a backend this data plane does not serve. */
  'backend-unavailable',
  /** The upload session's stored parts are not contiguous or were changed underneath it. */
  'upload-corrupt',
  /** A batch upload's archive is malformed or holds an entry that is not a regular file or directory. */
  'invalid-archive',
  /** A batch upload holds more files than one batch may. */
  'too-many-files',
] as const;

/** Stable reason for a data-plane failure. */
export type DataPlaneErrorCode = (typeof DATA_PLANE_ERROR_CODES)[number];

/** Extra facts an edge renders with the error. */
export interface DataPlaneErrorFacts {
  /** The session's current offset, for `offset-mismatch` (sent as `Upload-Offset`). */
  readonly uploadOffset?: number;
  /** The object's size, for `range-not-satisfiable` (sent as `Content-Range: bytes *\/size`). */
  readonly size?: number;
  /** Methods the route accepts, for `method-not-allowed`. */
  readonly allow?: readonly string[];
}

/** A request the data plane refuses; `facts` carry what the response must tell the client. */
export class DataPlaneError extends CodedError<DataPlaneErrorCode> {
  override readonly name = 'DataPlaneError';
  readonly facts: DataPlaneErrorFacts;

  constructor(code: DataPlaneErrorCode, message: string, options?: { cause?: unknown; facts?: DataPlaneErrorFacts }) {
    super(code, message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.facts = options?.facts ?? {};
  }
}
