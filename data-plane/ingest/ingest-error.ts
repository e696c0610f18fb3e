/**
 * Errors of the ingest pipeline, with stable codes. Storage and hashing failures pass through as
 * their own error types (StorageError, HashError); these are the checks ingest itself makes.
 */
import { CodedError } from '../../core/errors/coded-error.ts';

/** Stable, machine-readable ingest error codes. */
export type IngestErrorCode = 'digest-mismatch' | 'size-mismatch' | 'too-large' | 'invalid-expectation';

/** A rejected ingest: nothing was stored under any key. */
export class IngestError extends CodedError<IngestErrorCode> {
  override readonly name = 'IngestError';
}
