/**
 * Registry errors carry a closed set of stable codes; the API layer maps them to Connect codes and
 * HTTP problem types in one place.
 */
import { CodedError } from '../../core/errors/coded-error.ts';

/** Stable, machine-readable registry error codes. */
export type RegistryErrorCode = 'invalid-argument' | 'not-found' | 'already-exists' | 'failed-precondition';

/** A domain error raised by the registry. */
export class RegistryError extends CodedError<RegistryErrorCode> {
  override readonly name = 'RegistryError';
}
