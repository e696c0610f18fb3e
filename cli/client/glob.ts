/**
 * A small, dependency-free glob matcher for `--exclude` patterns over `/`-separated relative paths.
 *
 * Syntax: `*` matches any characters except `/`; `**` matches any characters including `/` (a whole
 * `**` segment also matches zero segments, so `**` + `/x` matches `x` and `a/b/x`); `?` matches one
 * character except `/`; every other character matches itself. A pattern without `/` matches the
 * entry's base name at any depth (like .gitignore), so `*.sock` excludes `a/b/c.sock`. A pattern
 * that matches a directory excludes everything below it (the walker never enters it).
 */

/** A compiled pattern. */
export interface GlobMatcher {
  /** The pattern as given. */
  readonly pattern: string;
  /** True when `relativePath` (`/`-separated, no leading `/`) matches. */
  matches(relativePath: string): boolean;
}

function escapeRegExp(c: string): string {
  return /[\\^$.*+?()[\]{}|]/.test(c) ? `\\${c}` : c;
}

/** Compiles `pattern` (see the module comment). A leading `./` or `/` is ignored. */
export function compileGlob(pattern: string): GlobMatcher {
  const body = pattern.replace(/^\.?\//, '').replace(/\/+$/, '');
  if (body === '') throw new RangeError(`empty exclude pattern ${JSON.stringify(pattern)}`);
  let source = '';
  for (let i = 0; i < body.length; i += 1) {
    const c = body[i]!;
    if (c === '*' && body[i + 1] === '*') {
      const wholeSegment = (i === 0 || body[i - 1] === '/') && (i + 2 === body.length || body[i + 2] === '/');
      if (wholeSegment && body[i + 2] === '/') {
        source += '(?:.*/)?';
        i += 2;
      } else {
        source += '.*';
        i += 1;
      }
    } else if (c === '*') source += '[^/]*';
    else if (c === '?') source += '[^/]';
    else source += escapeRegExp(c);
  }
  const anchored = new RegExp(`^${source}$`, 'u');
  const baseNameOnly = !body.includes('/');
  return {
    pattern,
    matches(relativePath: string): boolean {
      if (anchored.test(relativePath)) return true;
      return baseNameOnly && anchored.test(relativePath.slice(relativePath.lastIndexOf('/') + 1));
    },
  };
}

/** A predicate true for paths matched by any of `patterns` (none: never). */
export function compileExcludes(patterns: readonly string[]): (relativePath: string) => boolean {
  const matchers = patterns.map(compileGlob);
  return (relativePath) => matchers.some((m) => m.matches(relativePath));
}
