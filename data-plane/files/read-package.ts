/**
 * Reading several files of one package at once (an archive), independent of transport: the control
 * plane says which files the caller may read and where their bytes live, a page at a time
 * (`ResolvePackageReads`: three queries per page, not three per file), and each file is read from the
 * copy on this data plane's backends, as a single download is (`read-file.ts`).
 */
import type { Caller, DataPlaneDeps } from './data-plane-deps.ts';
import { readableCopy, type ResolvedFile } from './read-file.ts';

/** Which files: these paths in this order, or every file of the package in manifest order. */
export type PackageSelection = { readonly relativePaths: readonly string[] } | { readonly all: true };

/** Most paths one selection names (the control plane's limit per request). */
export const MAX_SELECTED_PATHS = 1000;

/** Files per page when reading every file: the control plane's largest page. */
export const DEFAULT_PAGE_SIZE = 10_000;

/**
 * Resolves the selection. The first page is asked for before this returns, so a package or path the
 * caller may not read fails here, before anything is answered; each further page is asked for while
 * the files of the one before are read.
 */
export async function resolvePackageFiles(
  deps: DataPlaneDeps,
  caller: Caller,
  packageId: string,
  selection: PackageSelection,
  signal: AbortSignal,
  options: { readonly pageSize?: number } = {},
): Promise<AsyncGenerator<ResolvedFile>> {
  const pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
  // Ends a page still being asked for when the reader stops early (the client went away, a copy failed).
  const stopped = new AbortController();
  const ask = (pageToken: string) =>
    deps.control.resolvePackageReads(
      'all' in selection ? { clientToken: caller.token, packageId, pageToken, pageSize } : { clientToken: caller.token, packageId, relativePaths: [...selection.relativePaths] },
      { signal: AbortSignal.any([signal, stopped.signal]) },
    );
  let page = await ask('');
  let files = page.files.map((answer) => readableCopy(deps, answer));
  return (async function* pages() {
    try {
      for (;;) {
        const next = page.nextPageToken === '' ? undefined : ask(page.nextPageToken);
        next?.catch(() => undefined); // awaited below, unless the reader stops early
        yield* files;
        if (next === undefined) return;
        page = await next;
        files = page.files.map((answer) => readableCopy(deps, answer));
      }
    } finally {
      stopped.abort();
    }
  })();
}
