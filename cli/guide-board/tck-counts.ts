/**
 * Counts test results in JUnit-style XML reports (what the OpenCMIS TCK and surefire write): sums the
 * `tests`, `failures`, `errors` and `skipped` attributes of every `<testsuite>` element. Used when a
 * run has no scorecard, so the package still carries evidence result counts.
 */

/** Result counts in the scorecard's vocabulary. */
export interface ResultCounts {
  pass: number;
  fail: number;
  error: number;
  skip: number;
}

function attribute(attributes: string, name: string): number {
  const m = new RegExp(`\\b${name}\\s*=\\s*["'](\\d+)["']`).exec(attributes);
  return m === null ? 0 : Number(m[1]);
}

/** Adds the counts of one XML document to `into`; returns whether it held any `<testsuite>`. */
export function addJUnitCounts(xml: string, into: ResultCounts): boolean {
  let found = false;
  for (const m of xml.matchAll(/<testsuite\b([^>]*)>/g)) {
    found = true;
    const attrs = m[1] ?? '';
    const tests = attribute(attrs, 'tests');
    const failures = attribute(attrs, 'failures');
    const errors = attribute(attrs, 'errors');
    const skipped = attribute(attrs, 'skipped');
    into.fail += failures;
    into.error += errors;
    into.skip += skipped;
    into.pass += Math.max(0, tests - failures - errors - skipped);
  }
  return found;
}
