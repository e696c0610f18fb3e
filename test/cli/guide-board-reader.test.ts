/**
 * The guide-board run reader and the `--exclude` globs, without a service: missing optional parts are
 * tolerated and listed, malformed parts and missing identity are errors with stable codes.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileExcludes, compileGlob } from '../../cli/client/glob.ts';
import { walkDirectory, walkDirectoryDetailed } from '../../cli/client/walk-directory.ts';
import { readGuideBoardRun } from '../../cli/guide-board/read-run.ts';
import { addJUnitCounts } from '../../cli/guide-board/tck-counts.ts';
import { buildPilotRun, PILOT_RUN_ID } from '../fixtures/guide-board/build-pilot-run.ts';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'as-guide-board-reader-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('compileGlob', () => {
  it.each([
    ['*.pipe', 'raw/tck.pipe', true],
    ['*.pipe', 'tck.pipe', true],
    ['raw/*.log', 'raw/a.log', true],
    ['raw/*.log', 'raw/logs/a.log', false],
    ['raw/**/*.log', 'raw/a.log', true],
    ['raw/**/*.log', 'raw/logs/x/a.log', true],
    ['**/secret?.txt', 'a/b/secret1.txt', true],
    ['**/secret?.txt', 'a/b/secret12.txt', false],
    ['./raw/logs/host-link', 'raw/logs/host-link', true],
    ['raw/logs', 'raw/logs', true],
    ['raw/logs', 'raw/logs2', false],
    ['a+b(1).txt', 'a+b(1).txt', true],
  ])('%s against %s → %s', (pattern, path, expected) => {
    expect(compileGlob(pattern).matches(path)).toBe(expected);
  });

  it('refuses an empty pattern', () => {
    expect(() => compileExcludes(['/'])).toThrow(/empty exclude pattern/);
  });

  it('an excluded directory is not entered, and is reported', async () => {
    const dir = join(work, 'excl');
    await buildPilotRun(dir);
    const all = await walkDirectory(dir);
    const res = await walkDirectoryDetailed(dir, compileExcludes(['raw/logs', '*.bin']));
    expect(res.excluded).toEqual(['raw/captures/http-trace.bin', 'raw/logs']);
    expect(res.files.length).toBe(all.length - 4);
  });
});

describe('readGuideBoardRun', () => {
  it('counts JUnit testsuites, not the testsuites wrapper', () => {
    const counts = { pass: 0, fail: 0, error: 0, skip: 0 };
    expect(addJUnitCounts('<testsuites tests="99"><testsuite name="a" tests="5" failures="1" errors="1" skipped="1"></testsuite><testsuite tests=\'2\'/></testsuites>', counts)).toBe(true);
    expect(counts).toEqual({ pass: 4, fail: 1, error: 1, skip: 1 });
    expect(addJUnitCounts('<html></html>', counts)).toBe(false);
    // Comments and wrapping suites do not count twice; an unclosed (truncated) leaf still counts.
    const nested = { pass: 0, fail: 0, error: 0, skip: 0 };
    const xml = '<!-- <testsuite tests="50"/> --><testsuite name="all" tests="7"><testsuite tests="3" failures="1"></testsuite><testsuite tests="4" skipped="2"/></testsuite><testsuite tests="1">';
    expect(addJUnitCounts(xml, nested)).toBe(true);
    expect(nested).toEqual({ pass: 5, fail: 1, error: 0, skip: 2 });
  });

  it('reads the pilot run', async () => {
    const dir = join(work, 'pilot');
    await buildPilotRun(dir);
    const run = await readGuideBoardRun(dir, await walkDirectory(dir));
    expect(run).toMatchObject({ runId: PILOT_RUN_ID, subject: 'nemakiware-cmis', retentionClass: 'raw-evidence', notes: [] });
  });

  it('tolerates a directory of raw files only, given a run id and a subject', async () => {
    const dir = join(work, 'bare');
    await buildPilotRun(dir);
    for (const p of ['run.json', 'retention-summary.json', 'scorecard', 'log-review', 'raw/opencmis-tck']) await rm(join(dir, p), { recursive: true });
    const files = await walkDirectory(dir);
    await expect(readGuideBoardRun(dir, files)).rejects.toMatchObject({ code: 'guide-board-no-run-id' });
    await expect(readGuideBoardRun(dir, files, { runId: 'r1' })).rejects.toMatchObject({ code: 'guide-board-no-subject' });
    const run = await readGuideBoardRun(dir, files, { runId: 'r1', subject: 'cmis' });
    expect(run.retentionClass).toBe('raw-evidence');
    expect(run.metadata).toMatchObject({ run_id: 'r1', target: null, target_profile: null, assessment_profile: null, source_commits: null, evidence_result_counts: null, finding_counts: null, report_paths: [], retention_class_source: 'default', missing_parts: ['run', 'retentionSummary', 'scorecard', 'logReview', 'tck-reports'] });
    expect(run.notes.join('\n')).toMatch(/using raw-evidence/);
  });

  it('refuses malformed parts, naming the file and key', async () => {
    const dir = join(work, 'malformed');
    await buildPilotRun(dir);
    await writeFile(join(dir, 'scorecard', 'scorecard.json'), '{"evidence_results":{"pass":-1}}');
    await expect(readGuideBoardRun(dir, await walkDirectory(dir))).rejects.toMatchObject({ code: 'guide-board-malformed', message: expect.stringMatching(/scorecard\/scorecard.json: "evidence_results.pass"/) as unknown });
    await writeFile(join(dir, 'run.json'), '{not json');
    await expect(readGuideBoardRun(dir, await walkDirectory(dir))).rejects.toMatchObject({ code: 'guide-board-malformed', message: expect.stringMatching(/^run.json: not JSON/) as unknown });
  });
});
