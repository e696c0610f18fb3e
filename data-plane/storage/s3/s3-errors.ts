/**
 * Translates what the AWS SDK throws (service errors with an S3 error name and HTTP status, network
 * errors from node:http, abort errors) into the storage SPI's closed set of codes. The SDK's error
 * stays in `cause` for logs; messages name the action and the endpoint, never credentials.
 */
import { StorageError, type StorageErrorCode } from '../errors.ts';

/** What an SDK failure looks like, as far as this module reads it. */
interface SdkErrorShape {
  readonly name?: unknown;
  readonly code?: unknown;
  readonly $metadata?: { readonly httpStatusCode?: unknown };
}

/** The S3 error name (`NoSuchKey`, `AccessDenied`, …) or Node error code of `error`, if any. */
export function s3ErrorName(error: unknown): string {
  if (typeof error !== 'object' || error === null) return '';
  const shape = error as SdkErrorShape;
  if (typeof shape.code === 'string' && shape.code !== '') return shape.code;
  return typeof shape.name === 'string' ? shape.name : '';
}

/** The HTTP status of a service error; undefined for network errors. */
export function s3HttpStatus(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const status = (error as SdkErrorShape).$metadata?.httpStatusCode;
  return typeof status === 'number' ? status : undefined;
}

/** True for "no such object" answers (GetObject's NoSuchKey, HeadObject's bare 404). */
export function isS3NotFound(error: unknown): boolean {
  const name = s3ErrorName(error);
  return name === 'NoSuchKey' || name === 'NotFound' || (s3HttpStatus(error) === 404 && name !== 'NoSuchBucket' && name !== 'NoSuchUpload');
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'TimeoutError', 'RequestTimeout', 'ERR_STREAM_PREMATURE_CLOSE']);
const CREDENTIAL_NAMES = new Set(['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'Forbidden', 'AuthorizationHeaderMalformed']);
const FULL_NAMES = new Set(['QuotaExceeded', 'EntityTooLarge', 'InsufficientCapacity', 'ServiceQuotaExceeded']);

/** Why an S3 call failed, in storage terms. */
export function classifyS3Error(error: unknown): StorageErrorCode {
  if (error instanceof StorageError) return error.code;
  const name = s3ErrorName(error);
  const status = s3HttpStatus(error);
  if (name === 'AbortError' || name === 'ABORT_ERR') return 'aborted';
  if (isS3NotFound(error)) return 'not-found';
  if (name === 'InvalidRange' || status === 416) return 'invalid-range';
  if (FULL_NAMES.has(name) || status === 507) return 'resource-exhausted';
  if (name === 'NoSuchBucket' || CREDENTIAL_NAMES.has(name) || status === 403 || status === 401) return 'unavailable';
  if (NETWORK_CODES.has(name) || status === undefined || status >= 500) return 'unavailable';
  return 'internal';
}

/**
 * Wraps an SDK failure of `action` (e.g. `write "sha256/ab/…"`) on `where` (endpoint and bucket) into a
 * StorageError; a StorageError passes through unchanged.
 */
export function translateS3Error(error: unknown, action: string, where: string): StorageError {
  if (error instanceof StorageError) return error;
  const code = classifyS3Error(error);
  if (code === 'aborted') return new StorageError('aborted', 'storage operation aborted', { cause: error });
  const name = s3ErrorName(error);
  const status = s3HttpStatus(error);
  const reason = describe(name, status);
  return new StorageError(code, `s3 storage (${where}): ${action} failed: ${reason}`, { cause: error });
}

function describe(name: string, status: number | undefined): string {
  if (name === 'NoSuchBucket') return 'the bucket does not exist';
  if (CREDENTIAL_NAMES.has(name) || status === 403) return `access denied (${name || status}): check the access and secret key`;
  if (NETWORK_CODES.has(name)) return `endpoint unreachable (${name})`;
  if (status === undefined) return `no answer from the endpoint${name === '' ? '' : ` (${name})`}`;
  return `${name || 'error'} (HTTP ${status})`;
}
