/**
 * Reads a guide-board run directory into what the package records: run id, subject, retention class
 * and the metadata object. Works on the walked file list, so an excluded part counts as missing.
 * Missing optional parts are tolerated and listed in `missing_parts`; a part that is present but
 * malformed is an error (evidence is not guessed at).
 */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { JsonObject, JsonValue } from '@bufbuild/protobuf';
import type { LocalFile } from '../client/walk-directory.ts';
import { GuideBoardError } from './guide-board-error.ts';
import { addJUnitCounts, type ResultCounts } from './tck-counts.ts';
import {
  MAX_REPORT_PATHS,
  RAW_FOLDER,
  REPORT_FOLDERS,
  RUN_LAYOUT,
  RUN_PARTS,
  type LogReviewFile,
  type RetentionSummaryFile,
  type RunFile,
  type RunPartName,
  type ScorecardFile,
} from './run-layout.ts';

/** The retention class used when neither the flag nor the run's retention summary names one. */
export const DEFAULT_RETENTION_CLASS = 'raw-evidence';

/** Values given on the command line, each overriding what the run says. */
export interface RunOverrides {
  readonly runId?: string | undefined;
  readonly subject?: string | undefined;
  readonly retentionClass?: string | undefined;
}

/** What one run directory becomes. */
export interface GuideBoardRun {
  readonly runId: string;
  readonly subject: string;
  readonly retentionClass: string;
  /** Package metadata; every key is always present (null when its source part is missing). */
  readonly metadata: JsonObject;
  /** Human notes about fallbacks taken (printed on stderr). */
  readonly notes: readonly string[];
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function malformed(part: string, what: string): GuideBoardError {
  return new GuideBoardError('guide-board-malformed', `${part}: ${what}`);
}

async function readJsonPart(files: ReadonlyMap<string, LocalFile>, part: string): Promise<Json | undefined> {
  const file = files.get(part);
  if (file === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file.absolutePath, 'utf8'));
  } catch (err) {
    throw malformed(part, `not JSON (${(err as Error).message})`);
  }
  if (!isObject(parsed)) throw malformed(part, 'must be a JSON object');
  return parsed;
}

function optionalString(doc: Json, key: string, part: string): string | undefined {
  const v = doc[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v.trim() === '') throw malformed(part, `"${key}" must be a non-empty string`);
  return v;
}

function countMap(doc: Json, key: string, part: string): Record<string, number> | undefined {
  const v = doc[key];
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) throw malformed(part, `"${key}" must be an object of counts`);
  const out: Record<string, number> = {};
  for (const [k, n] of Object.entries(v)) {
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw malformed(part, `"${key}.${k}" must be a non-negative integer`);
    out[k] = n;
  }
  return out;
}

function stringMap(doc: Json, key: string, part: string): Record<string, string> | undefined {
  const v = doc[key];
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) throw malformed(part, `"${key}" must be an object of strings`);
  for (const [k, s] of Object.entries(v)) if (typeof s !== 'string') throw malformed(part, `"${key}.${k}" must be a string`);
  return v as Record<string, string>;
}

function parseRun(doc: Json): RunFile {
  const part = RUN_PARTS.run;
  const target = doc['target'];
  if (target !== undefined && target !== null && !isObject(target)) throw malformed(part, '"target" must be an object');
  return {
    run_id: optionalString(doc, 'run_id', part),
    target: isObject(target) ? { id: optionalString(target, 'id', part), name: optionalString(target, 'name', part), profile: optionalString(target, 'profile', part) } : undefined,
    target_profile: optionalString(doc, 'target_profile', part),
    assessment_profile: optionalString(doc, 'assessment_profile', part),
    source_commits: stringMap(doc, 'source_commits', part),
    started_at: optionalString(doc, 'started_at', part),
    finished_at: optionalString(doc, 'finished_at', part),
  };
}

function countFindings(doc: Json): Record<string, number> {
  const part = RUN_PARTS.logReview;
  const findings = (doc as LogReviewFile).findings;
  if (findings === undefined) return {};
  if (!Array.isArray(findings)) throw malformed(part, '"findings" must be an array');
  const counts: Record<string, number> = {};
  for (const [i, f] of findings.entries()) {
    if (!isObject(f)) throw malformed(part, `"findings[${i}]" must be an object`);
    const severity = typeof f['severity'] === 'string' && f['severity'] !== '' ? f['severity'] : 'unspecified';
    counts[severity] = (counts[severity] ?? 0) + 1;
  }
  return counts;
}

async function countTckReports(reports: readonly LocalFile[]): Promise<ResultCounts | undefined> {
  const counts: ResultCounts = { pass: 0, fail: 0, error: 0, skip: 0 };
  let any = false;
  for (const file of reports) {
    if (!file.relativePath.toLowerCase().endsWith('.xml')) continue;
    if (addJUnitCounts(await readFile(file.absolutePath, 'utf8'), counts)) any = true;
  }
  return any ? counts : undefined;
}

/** Reads the run whose walked files are `files` (directory `dir`), applying `overrides`. */
export async function readGuideBoardRun(dir: string, files: readonly LocalFile[], overrides: RunOverrides = {}): Promise<GuideBoardRun> {
  const byPath = new Map(files.map((f) => [f.relativePath, f]));
  const missing: RunPartName[] = [];
  const notes: string[] = [];
  const runDoc = await readJsonPart(byPath, RUN_PARTS.run);
  if (runDoc === undefined) missing.push('run');
  const run: RunFile = runDoc === undefined ? {} : parseRun(runDoc);

  const runId = overrides.runId ?? run.run_id;
  if (runId === undefined) throw new GuideBoardError('guide-board-no-run-id', `${dir}: ${RUN_PARTS.run} ${runDoc === undefined ? 'is missing' : 'has no "run_id"'}; give --run-id ID (the idempotency key)`);
  const targetName = run.target?.id ?? run.target?.name;
  const subject = overrides.subject ?? targetName;
  if (subject === undefined) throw new GuideBoardError('guide-board-no-subject', `${dir}: ${RUN_PARTS.run} names no target ("target.id"); give --subject S`);

  const retentionDoc = await readJsonPart(byPath, RUN_PARTS.retentionSummary);
  if (retentionDoc === undefined) missing.push('retentionSummary');
  const retention: RetentionSummaryFile = retentionDoc === undefined ? {} : { retention_class: optionalString(retentionDoc, 'retention_class', RUN_PARTS.retentionSummary), reason: optionalString(retentionDoc, 'reason', RUN_PARTS.retentionSummary) };
  let retentionClass: string;
  let retentionSource: string;
  if (overrides.retentionClass !== undefined) [retentionClass, retentionSource] = [overrides.retentionClass, 'flag'];
  else if (retention.retention_class !== undefined) [retentionClass, retentionSource] = [retention.retention_class, 'retention-summary'];
  else {
    [retentionClass, retentionSource] = [DEFAULT_RETENTION_CLASS, 'default'];
    notes.push(`no retention class in ${RUN_PARTS.retentionSummary}; using ${DEFAULT_RETENTION_CLASS}`);
  }

  const scoreDoc = await readJsonPart(byPath, RUN_PARTS.scorecard);
  if (scoreDoc === undefined) missing.push('scorecard');
  const scorecard: ScorecardFile = scoreDoc === undefined ? {} : { evidence_results: countMap(scoreDoc, 'evidence_results', RUN_PARTS.scorecard), findings: countMap(scoreDoc, 'findings', RUN_PARTS.scorecard) };
  const reviewDoc = await readJsonPart(byPath, RUN_PARTS.logReview);
  if (reviewDoc === undefined) missing.push('logReview');

  const rawReports = files.filter((f) => f.relativePath.startsWith(RAW_FOLDER) && /\.(xml|html?)$/i.test(f.relativePath));
  const tckCounts = await countTckReports(rawReports);
  if (tckCounts === undefined) missing.push('tck-reports');

  let evidence: JsonValue = null;
  let evidenceSource: string | null = null;
  if (scorecard.evidence_results !== undefined) [evidence, evidenceSource] = [scorecard.evidence_results, 'scorecard'];
  else if (tckCounts !== undefined) [evidence, evidenceSource] = [{ ...tckCounts }, 'tck-reports'];
  let findings: JsonValue = null;
  let findingsSource: string | null = null;
  if (scorecard.findings !== undefined) [findings, findingsSource] = [scorecard.findings, 'scorecard'];
  else if (reviewDoc !== undefined) [findings, findingsSource] = [countFindings(reviewDoc), 'log-review'];

  const reportPaths = files
    .map((f) => f.relativePath)
    .filter((p) => REPORT_FOLDERS.some((folder) => p.startsWith(folder)) || rawReports.some((r) => r.relativePath === p));
  if (reportPaths.length > MAX_REPORT_PATHS) notes.push(`${reportPaths.length} report paths; metadata lists the first ${MAX_REPORT_PATHS} (the manifest lists every file)`);
  if (runDoc === undefined) notes.push(`${RUN_PARTS.run} is missing: run id and subject come from the command line`);

  const metadata: JsonObject = {
    layout: RUN_LAYOUT,
    run_id: runId,
    run_directory: basename(dir),
    target: targetName ?? null,
    target_profile: run.target?.profile ?? run.target_profile ?? null,
    assessment_profile: run.assessment_profile ?? null,
    started_at: run.started_at ?? null,
    finished_at: run.finished_at ?? null,
    source_commits: run.source_commits ?? null,
    evidence_result_counts: evidence,
    evidence_result_counts_source: evidenceSource,
    finding_counts: findings,
    finding_counts_source: findingsSource,
    retention_class_source: retentionSource,
    retention_reason: retention.reason ?? null,
    report_paths: reportPaths.slice(0, MAX_REPORT_PATHS),
    report_paths_truncated: reportPaths.length > MAX_REPORT_PATHS,
    missing_parts: missing,
  };
  return { runId, subject, retentionClass, metadata, notes };
}
