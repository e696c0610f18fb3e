/**
 * Errors of the guide-board ingest, with stable codes the CLI prints as `error [code]: message`.
 */
import { CodedError } from '../../core/errors/coded-error.ts';

/** Stable codes of guide-board ingest failures. */
export type GuideBoardErrorCode =
  /** A part of the run directory is present but not valid JSON of the expected shape. */
  | 'guide-board-malformed'
  /** No run id: run.json has none and --run-id was not given. */
  | 'guide-board-no-run-id'
  /** No subject: run.json names no target and --subject was not given. */
  | 'guide-board-no-subject'
  /** An earlier ingest of the same run left a package open (interrupted, or still running). */
  | 'guide-board-incomplete-package';

/** A guide-board ingest failure. */
export class GuideBoardError extends CodedError<GuideBoardErrorCode> {
  override readonly name = 'GuideBoardError';
}
