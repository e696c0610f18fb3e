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

/**
 * Adds the counts of one XML document to `into`; returns whether it held any `<testsuite>`. Comments
 * are ignored, and where suites nest (some tools wrap suites in a suite) only the innermost ones
 * count, so no result is counted twice.
 */
export function addJUnitCounts(xml: string, into: ResultCounts): boolean {
  const text = xml.replace(/<!--[\s\S]*?-->/g, '');
  const stack: { attrs: string; hasChildren: boolean }[] = [];
  const leaves: string[] = [];
  for (const m of text.matchAll(/<(\/?)testsuite\b([^>]*?)(\/?)>/g)) {
    const [, closing, attrs = '', selfClosing] = m;
    if (closing === '/') {
      const suite = stack.pop();
      if (suite !== undefined && !suite.hasChildren) leaves.push(suite.attrs);
      continue;
    }
    const parent = stack.at(-1);
    if (parent !== undefined) parent.hasChildren = true;
    if (selfClosing === '/') leaves.push(attrs);
    else stack.push({ attrs, hasChildren: false });
  }
  // A suite left open by a truncated report still counts, unless it holds others.
  for (const suite of stack) if (!suite.hasChildren) leaves.push(suite.attrs);
  for (const attrs of leaves) {
    const tests = attribute(attrs, 'tests');
    const failures = attribute(attrs, 'failures');
    const errors = attribute(attrs, 'errors');
    const skipped = attribute(attrs, 'skipped');
    into.fail += failures;
    into.error += errors;
    into.skip += skipped;
    into.pass += Math.max(0, tests - failures - errors - skipped);
  }
  return leaves.length > 0;
}
