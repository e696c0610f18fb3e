/**
 * Archive reads: many files of one package in one response, as a tar archive (ustar, with a POSIX pax
 * `path` record for a path ustar cannot hold).
 * - `GET /packages/{id}/archive`: every file of the package, in manifest order (`curl … | tar -x`).
 * - `POST /packages/{id}/archive` with `{"relative_paths": [...]}` (JSON, at most 1000 paths, each
 *   once): those files, in that order (`artifactstore pull` fetches small files this way).
 *
 * Each entry is a regular file at its relative path (mode 0644, mtime = when it was recorded). The
 * digests are not in the archive: a client checks the bytes against the registry's (`ListFiles`, the
 * manifest), as `pull` does. A batch upload (`POST /packages/{id}/files`) takes the archive back as it is.
 *
 * Everything the caller may not read, or a path that is not a file of the package, is refused before
 * the answer starts (a problem document). Once the 200 has started, a failure (a copy that cannot be
 * read, a copy of the wrong size) breaks the connection, after a block tar refuses when the failure
 * falls between two entries (`streamArchive`), so neither an HTTP client nor `tar` takes a cut archive
 * for a whole one. Small files are read whole, a group at a time (about three groups of 2 MiB held at
 * most, `archive-sources.ts`); larger ones stream one at a time with backpressure, never buffered whole.
 */
import { once } from 'node:events';
import type { OutgoingHttpHeaders } from 'node:http';
import { timestampDate } from '@bufbuild/protobuf/wkt';
import tar from 'tar-stream';
import { DataPlaneError } from '../errors/data-plane-error.ts';
import type { Caller, DataPlaneDeps } from '../files/data-plane-deps.ts';
import { archiveSources, type ArchiveSource } from '../files/archive-sources.ts';
import type { ResolvedFile } from '../files/read-file.ts';
import { MAX_SELECTED_PATHS, resolvePackageFiles, type PackageSelection } from '../files/read-package.ts';
import { acceptBody, endResponse, header, parseJsonObject, pump, readSmallBody, startResponse, type HttpRequest, type HttpResponse } from './http-io.ts';

/** Largest JSON body of a selection: 1000 paths of up to 1024 bytes, with room for escapes. */
const MAX_SELECTION_BYTES = 2 * 1024 * 1024;

/** Handles `GET` and `POST /packages/{id}/archive`. */
export async function getArchive(deps: DataPlaneDeps, caller: Caller, packageId: string, req: HttpRequest, res: HttpResponse, signal: AbortSignal): Promise<void> {
  const selection: PackageSelection = req.method === 'POST' ? await readSelection(req, res) : { all: true };
  const sources = archiveSources(deps, await resolvePackageFiles(deps, caller, packageId, selection, signal), signal);
  try {
    // The first file (or group of small files) is read before the answer starts, so a missing copy is still a clean problem.
    const first = await sources.next();
    const opened = first.done === true ? undefined : first.value;
    const headers: OutgoingHttpHeaders = {
      'content-type': 'application/x-tar',
      'content-disposition': `attachment; filename="${packageId}.tar"`,
      // A package that is still open can change between two reads of its archive.
      'cache-control': 'private, no-cache',
      'x-content-type-options': 'nosniff',
    };
    startResponse(res, 200, headers);
    await streamArchive(opened, sources, res, signal);
  } finally {
    await sources.return(undefined);
  }
}

/** Parses `{"relative_paths": [...]}`: a non-empty array of distinct strings (the paths are checked by the registry). */
async function readSelection(req: HttpRequest, res: HttpResponse): Promise<PackageSelection> {
  const type = (header(req, 'content-type') ?? 'application/json').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/json') throw new DataPlaneError('bad-request', `a selection is JSON: send Content-Type: application/json (got ${JSON.stringify(type)})`);
  acceptBody(req, res);
  const paths = parseJsonObject(await readSmallBody(req, MAX_SELECTION_BYTES), ['relative_paths'])['relative_paths'];
  if (!Array.isArray(paths) || paths.length === 0 || !paths.every((p) => typeof p === 'string')) throw new DataPlaneError('bad-request', '"relative_paths" must be a non-empty array of strings');
  if (paths.length > MAX_SELECTED_PATHS) throw new DataPlaneError('bad-request', `at most ${MAX_SELECTED_PATHS} relative paths per request (got ${paths.length})`);
  return { relativePaths: paths };
}

/**
 * A block GNU tar and tar-stream refuse as a header (its checksum field is not a number). Written where
 * the next entry's header would be when that entry cannot be sent: the bytes so far end on an entry
 * boundary, and without it `curl … | tar -x` would take the cut archive for a whole one.
 */
export const DAMAGED_BLOCK = Buffer.alloc(512, 0xff);

/** Wraps a failure between two entries (nothing of the next entry was packed yet); never leaves this file. */
class BetweenEntries extends Error {
  readonly failure: unknown;
  constructor(failure: unknown) {
    super('failed between two archive entries');
    this.failure = failure;
  }
}

/**
 * Packs `first` and then every further file into the response. The packer and the socket run side by
 * side. When a file cannot be opened or read (small files are read in groups, ahead of their turn; a
 * group that fails fails where its first file would have come), or the next page not resolved, the
 * bytes so far and then
 * {@link DAMAGED_BLOCK} still go out; when a file fails while it is being packed, or the socket fails,
 * the packer is destroyed (which stops the other side). Either way the failure is thrown, and the
 * caller's problem handler breaks the connection: the response never ends cleanly after a failure.
 * A copy opened but not read when the packer stops is released by the request's abort signal, which
 * fires when the broken response closes.
 */
async function streamArchive(first: ArchiveSource | undefined, rest: AsyncIterator<ArchiveSource>, res: HttpResponse, signal: AbortSignal): Promise<void> {
  const pack = tar.pack();
  const between = async <T>(step: () => Promise<T>): Promise<T> => {
    try {
      return await step();
    } catch (error) {
      throw new BetweenEntries(error);
    }
  };
  const packing = (async () => {
    if (first !== undefined) {
      await packEntry(pack, first.resolved, first.bytes);
      for (let next = await between(() => rest.next()); next.done !== true; next = await between(() => rest.next())) {
        await packEntry(pack, next.value.resolved, next.value.bytes);
      }
    }
    pack.finalize();
  })().catch((error: unknown) => {
    if (!(error instanceof BetweenEntries)) stop(pack, error);
    // The packer is between entries: what it holds is whole entries. Let them and the damaged block out.
    pack.push(DAMAGED_BLOCK);
    pack.push(null);
    throw error.failure;
  });
  const sending = pump(pack, res, signal, { end: false }).catch((error: unknown) => stop(pack, error));
  const outcome = await Promise.allSettled([packing, sending]);
  const failed = outcome.find((o) => o.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
  await endResponse(res);
}

function stop(pack: tar.Pack, error: unknown): never {
  pack.destroy(error instanceof Error ? error : new Error(String(error)));
  throw error;
}

/** Writes one file as an entry; resolves once the packer has taken all of it. */
async function packEntry(pack: tar.Pack, resolved: ResolvedFile, bytes: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<void> {
  const { file } = resolved;
  let settle: { resolve: () => void; reject: (error: Error) => void } | undefined;
  const done = new Promise<void>((resolve, reject) => {
    settle = { resolve, reject };
  });
  // Observed at once: the entry can be destroyed (the client went away) while this still waits for the
  // storage read, long before `done` is awaited below.
  done.catch(() => undefined);
  // No vendor pax records: GNU tar warns about each unknown keyword, three per file. Paths longer than
  // ustar holds, or not ASCII, still travel as a standard pax `path` record.
  const headers: tar.Headers = {
    name: file.relativePath,
    size: resolved.size,
    mode: 0o644,
    mtime: file.createdAt === undefined ? new Date(0) : timestampDate(file.createdAt),
    type: 'file',
  };
  try {
    const entry = pack.entry(headers, (error) => (error === null || error === undefined ? settle?.resolve() : settle?.reject(error)));
    entry.on('error', () => undefined); // reported through the callback above
    try {
      for await (const chunk of bytes) {
        // Waiting for room, or for the entry to end early (the packer destroyed: the client went away).
        if (!entry.write(chunk)) await Promise.race([once(entry, 'drain'), done]);
      }
      // A copy shorter than its recorded size fails here ("Size mismatch"): the entry is destroyed with
      // the packer. (A longer one cannot: the read stops at the recorded size.)
      entry.end();
    } catch (error) {
      entry.destroy(error instanceof Error ? error : new Error(String(error)));
    }
  } catch (error) {
    settle?.reject(error instanceof Error ? error : new Error(String(error))); // the packer was already destroyed
  }
  await done;
}
