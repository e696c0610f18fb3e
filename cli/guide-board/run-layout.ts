/**
 * The guide-board run directory layout (documented in docs/guide-board.md) as the reader sees it:
 * where each part lives and the shape of the JSON parts. Every part but the directory itself is
 * optional; a missing part is recorded in the package metadata (`missing_parts`), never an error.
 */

/** The layout version recorded in package metadata (`layout`). */
export const RUN_LAYOUT = 'guide-board-run/v1';

/** Relative paths of the structured parts. */
export const RUN_PARTS = {
  /** Run facts: run id, target, assessment profile, source commits, times. */
  run: 'run.json',
  /** The run's retention decision: retention class (and a reason). */
  retentionSummary: 'retention-summary.json',
  /** Evidence result counts and finding counts. */
  scorecard: 'scorecard/scorecard.json',
  /** Findings from reviewing the run's logs. */
  logReview: 'log-review/log-review.json',
} as const;

/** Name of an optional part, as listed in `missing_parts`. */
export type RunPartName = keyof typeof RUN_PARTS | 'tck-reports';

/** Folders whose every file is a report (listed in `report_paths`). */
export const REPORT_FOLDERS = ['scorecard/', 'log-review/'] as const;

/** Below this folder, `*.xml` and `*.html` files are raw test reports (listed in `report_paths`). */
export const RAW_FOLDER = 'raw/';

/** At most this many report paths go into metadata (metadata is limited to 64 KiB). */
export const MAX_REPORT_PATHS = 256;

/** `run.json`. Unknown keys are ignored. */
export interface RunFile {
  readonly run_id?: string | undefined;
  readonly target?: { readonly id?: string | undefined; readonly name?: string | undefined; readonly profile?: string | undefined } | undefined;
  readonly target_profile?: string | undefined;
  readonly assessment_profile?: string | undefined;
  readonly source_commits?: Readonly<Record<string, string>> | undefined;
  readonly started_at?: string | undefined;
  readonly finished_at?: string | undefined;
}

/** `retention-summary.json`. */
export interface RetentionSummaryFile {
  readonly retention_class?: string | undefined;
  readonly reason?: string | undefined;
}

/** `scorecard/scorecard.json`. */
export interface ScorecardFile {
  readonly evidence_results?: Readonly<Record<string, number>> | undefined;
  readonly findings?: Readonly<Record<string, number>> | undefined;
}

/** `log-review/log-review.json`. */
export interface LogReviewFile {
  readonly findings?: readonly { readonly severity?: string }[] | undefined;
}
