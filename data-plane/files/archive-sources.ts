/**
 * The bytes of an archive read's files, in order: small files read many at a time with one
 * `StorageBackend.getObjects` call per group (the local backend reads a group in a worker thread), the
 * next group read while the current one is packed; larger files streamed one at a time, as a single
 * download is. Memory stays at about three groups (`GROUP_BYTES` each: the one read ahead, the one being
 * packed, and the previous one's last chunks still queued for the socket) plus a stream's buffers.
 *
 * Reading a pull's 10,000 4 KiB files one stream each cost five thread-pool round trips per file, and a
 * quarter of the data plane's CPU samples were thread switches.
 */
import { backendById } from './backend-choice.ts';
import type { DataPlaneDeps } from './data-plane-deps.ts';
import { openFileRange, type ResolvedFile } from './read-file.ts';

/** Files up to this size are read in groups. */
export const GROUPED_FILE_BYTES = 1024 * 1024;
/** Most files in one group. */
export const GROUP_FILES = 64;
/** Most bytes in one group (an archive holds about three at most, however slowly its client reads). */
export const GROUP_BYTES = 2 * 1024 * 1024;

/** One file's bytes: whole (a grouped file) or a stream. */
export interface ArchiveSource {
  readonly resolved: ResolvedFile;
  readonly bytes: AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
}

/** What comes next: a group of small files being read, or one large file. */
type Step = { readonly kind: 'group'; readonly files: readonly ResolvedFile[]; readonly bytes: Promise<Uint8Array[]> } | { readonly kind: 'large'; readonly resolved: ResolvedFile };

/**
 * Yields the bytes of each of `files` in order. A failure to resolve or read a file is thrown by a
 * `next()` before the file would have been yielded, so every source yielded before is whole. A group's
 * files come all or none: a failure anywhere in a group (a missing copy, a page of files that could not
 * be resolved while the group was gathered) is thrown where the group's first file would have come.
 * Returning early (the client went away) returns `files` too; a group read ahead then settles unobserved.
 */
export async function* archiveSources(deps: DataPlaneDeps, files: AsyncIterator<ResolvedFile>, signal: AbortSignal): AsyncGenerator<ArchiveSource> {
  let held: ResolvedFile | undefined; // taken from `files`, not part of the step that took it
  let ended = false;
  const take = async (): Promise<ResolvedFile | undefined> => {
    if (held !== undefined) {
      const file = held;
      held = undefined;
      return file;
    }
    if (ended) return undefined;
    const next = await files.next();
    if (next.done === true) ended = true;
    return next.done === true ? undefined : next.value;
  };
  const nextStep = async (): Promise<Step | undefined> => {
    const first = await take();
    if (first === undefined) return undefined;
    if (first.size > GROUPED_FILE_BYTES) return { kind: 'large', resolved: first };
    const group = [first];
    let bytes = first.size;
    while (group.length < GROUP_FILES) {
      const file = await take();
      if (file === undefined) break;
      if (file.size > GROUPED_FILE_BYTES || bytes + file.size > GROUP_BYTES || (file.backendId ?? '') !== (first.backendId ?? '')) {
        held = file;
        break;
      }
      group.push(file);
      bytes += file.size;
    }
    const read = backendById(deps, first.backendId ?? '').getObjects(
      group.map((file) => ({ key: file.storageKey, expectedSize: file.size })),
      { signal },
    );
    read.catch(() => undefined); // awaited when its turn comes, unless the reader stops before
    return { kind: 'group', files: group, bytes: read };
  };
  try {
    let step = await nextStep();
    while (step !== undefined) {
      if (step.kind === 'large') {
        const { resolved } = step;
        yield { resolved, bytes: await openFileRange(deps, resolved, { offset: 0, length: resolved.size }, signal) };
        step = await nextStep();
        continue;
      }
      const { files: group } = step;
      const bytes = await step.bytes;
      // Read ahead: the next group is read while this one is packed. Its failure waits for its turn.
      const following = nextStep();
      following.catch(() => undefined);
      for (const [index, resolved] of group.entries()) {
        const whole = bytes[index] as Uint8Array;
        yield { resolved, bytes: whole.byteLength === 0 ? [] : [whole] };
      }
      step = await following;
    }
  } finally {
    await files.return?.(undefined);
  }
}
