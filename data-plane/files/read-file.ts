/**
 * Reading one file, independent of transport: the control plane says whether the caller may read it
 * and where its bytes live; the bytes stream from the first copy on this data plane's backend.
 */
import type { StorageLocation } from '../../gen/artifactstore/internal/v1/control_service_pb.ts';
import type { File } from '../../gen/artifactstore/v1/package_pb.ts';
import { DataPlaneError } from '../errors/data-plane-error.ts';
import { backendById, servesBackend } from './backend-choice.ts';
import type { Caller, DataPlaneDeps } from './data-plane-deps.ts';

/** Which file: by id, or by package and path. */
export type FileSelector = { readonly fileId: string } | { readonly packageId: string; readonly relativePath: string };

/** A file the caller may read, and the key of its bytes on our backend. */
export interface ResolvedFile {
  readonly file: File;
  /** Size in bytes, from the recorded digests. */
  readonly size: number;
  readonly storageKey: string;
  /** Backend holding that copy (absent: the default one). */
  readonly backendId?: string;
}

/** Resolves `selector` through the control plane (its ConnectError when the caller may not read). */
export async function resolveFile(deps: DataPlaneDeps, caller: Caller, selector: FileSelector, signal: AbortSignal): Promise<ResolvedFile> {
  const answer = await deps.control.resolveRead(
    'fileId' in selector
      ? { clientToken: caller.token, fileId: selector.fileId }
      : { clientToken: caller.token, packageId: selector.packageId, relativePath: selector.relativePath },
    { signal },
  );
  return readableCopy(deps, answer);
}

/**
 * The copy of a resolved file this data plane reads: the first of the recorded locations (preferred
 * first) on a backend it holds; `backend-unavailable` when none is.
 */
export function readableCopy(deps: DataPlaneDeps, answer: { readonly file?: File | undefined; readonly locations: readonly StorageLocation[] }): ResolvedFile {
  const file = answer.file;
  if (file?.digests === undefined) throw new Error('control plane resolved a read without a file');
  const location = answer.locations.find((l) => servesBackend(deps, l.backendId));
  if (location === undefined) throw new DataPlaneError('backend-unavailable', `no copy of file ${file.fileId} is on a backend this data plane serves`);
  return { file, size: Number(file.digests.size), storageKey: location.storageKey, backendId: location.backendId };
}

/**
 * Streams `length` bytes from `offset` of a resolved file (the backend's range rules apply). With
 * `reuseBuffers`, a chunk is valid only until the next is asked for (see `GetOptions.reuseBuffers`).
 */
export function openFileRange(
  deps: DataPlaneDeps,
  resolved: ResolvedFile,
  range: { offset: number; length?: number },
  signal: AbortSignal,
  options: { reuseBuffers?: boolean } = {},
): Promise<AsyncIterable<Uint8Array>> {
  return backendById(deps, resolved.backendId ?? '').get(resolved.storageKey, {
    // A copy of another size than recorded is damaged: refused before any byte goes out.
    expectedSize: resolved.size,
    offset: range.offset,
    ...(range.length === undefined ? {} : { length: range.length }),
    signal,
    reuseBuffers: options.reuseBuffers === true,
  });
}
