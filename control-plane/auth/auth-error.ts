/**
 * Authentication and authorization failures, with the two stable codes the transport maps to
 * Connect `Unauthenticated` / `PermissionDenied` (HTTP 401 / 403).
 */
import { CodedError } from '../../core/errors/coded-error.ts';

/** `unauthenticated`: no or unknown credentials; `permission-denied`: known caller, not allowed. */
export type AuthErrorCode = 'unauthenticated' | 'permission-denied';

/** A refused call. Messages never echo the presented token. */
export class AuthError extends CodedError<AuthErrorCode> {
  override readonly name = 'AuthError';
}
