/**
 * The base of every domain error: a stable, machine-readable `code` from a closed set per domain,
 * a human message, and the original failure in `cause` (for logs; never sent to clients). Callers
 * branch on `code`, never on the message.
 */

/** An error with a stable code of type `C`. */
export abstract class CodedError<C extends string> extends Error {
  /** Stable, machine-readable reason. */
  readonly code: C;

  constructor(code: C, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
