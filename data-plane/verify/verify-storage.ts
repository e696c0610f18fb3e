/**
 * The verification pass (`artifactstore storage verify`). It runs in the data-plane role: it holds the
 * backends (opened from the same `[storage]` configuration as the data planes) and the internal token,
 * asks the control plane for every recorded copy, re-reads each one, recomputes BLAKE3 and SHA-256 in
 * one pass and reports the outcome; the control plane writes it as an event. The control plane itself
 * never reads bytes.
 *
 * Only definite answers become failures: the object is missing, its size differs, or a digest differs.
 * A backend that cannot be reached or read (`unavailable`, ...) is reported as an error of this run and
 * records nothing, because the copy may be perfectly fine.
 */
import { createClient, type Client, type Transport } from '@connectrpc/connect';
import { digestStream } from '../../core/identity/digest-stream.ts';
import type { HashPool } from '../../core/identity/hash-pool.ts';
import { StorageService, type StoredLocation } from '../../gen/artifactstore/internal/v1/storage_service_pb.ts';
import type { StorageBackend } from '../storage/backend.ts';
import { isStorageError } from '../storage/errors.ts';

/** One failed copy. */
export interface VerifyFailure {
  readonly contentAddress: string;
  readonly backendId: string;
  readonly storageKey: string;
  readonly reason: 'missing' | 'size-mismatch' | 'digest-mismatch';
  readonly detail: string;
}

/** What a run found. */
export interface VerifySummary {
  readonly checked: number;
  readonly verified: number;
  readonly failed: readonly VerifyFailure[];
  /** Copies that could not be checked (backend not configured here, unreachable, ...): nothing recorded. */
  readonly errors: readonly { readonly contentAddress: string; readonly backendId: string; readonly detail: string }[];
}

/** How to run. */
export interface VerifyOptions {
  /** The backends this verifier holds, by id. */
  readonly backends: ReadonlyMap<string, StorageBackend>;
  /** Transport to the control plane carrying the internal token. */
  readonly transport: Transport;
  /** Only this backend's copies (default: all). */
  readonly backendId?: string;
  /** Copies re-read at once (default 4). */
  readonly concurrency?: number;
  readonly pool?: HashPool;
  readonly signal?: AbortSignal;
  /** Called after each copy (progress output). */
  readonly onChecked?: (location: StoredLocation, outcome: 'verified' | 'failed' | 'error', detail: string) => void;
}

/** Verifies every recorded copy (of one backend, if asked); see the file comment. */
export async function verifyStorage(options: VerifyOptions): Promise<VerifySummary> {
  const client = createClient(StorageService, options.transport);
  const failed: VerifyFailure[] = [];
  const errors: { contentAddress: string; backendId: string; detail: string }[] = [];
  let checked = 0;
  let verified = 0;
  const running = new Set<Promise<void>>();
  const concurrency = options.concurrency ?? 4;
  let pageToken = '';
  do {
    const page = await client.listStorageLocations({ backendId: options.backendId ?? '', pageToken, pageSize: 500 }, options.signal === undefined ? {} : { signal: options.signal });
    for (const location of page.locations) {
      while (running.size >= concurrency) await Promise.race(running);
      const task = (async () => {
        const outcome = await checkOne(location, options, client);
        checked++;
        if (outcome.kind === 'verified') verified++;
        else if (outcome.kind === 'failed') failed.push(outcome.failure);
        else errors.push({ contentAddress: location.contentAddress, backendId: location.backendId, detail: outcome.detail });
        options.onChecked?.(location, outcome.kind, outcome.kind === 'failed' ? outcome.failure.detail : outcome.kind === 'error' ? outcome.detail : '');
      })().finally(() => running.delete(task));
      running.add(task);
    }
    pageToken = page.nextPageToken;
  } while (pageToken !== '');
  await Promise.all(running);
  return { checked, verified, failed, errors };
}

type Outcome = { kind: 'verified' } | { kind: 'failed'; failure: VerifyFailure } | { kind: 'error'; detail: string };

async function checkOne(location: StoredLocation, options: VerifyOptions, client: Client<typeof StorageService>): Promise<Outcome> {
  const backend = options.backends.get(location.backendId);
  if (backend === undefined) return { kind: 'error', detail: `backend ${location.backendId} is not configured here` };
  const found = await reread(backend, location, options);
  if (found.kind === 'error') return found;
  const failure = found.kind === 'failed' ? found.failure : undefined;
  try {
    await client.recordLocationCheck(
      failure === undefined
        ? { contentAddress: location.contentAddress, backendId: location.backendId, ok: true }
        : { contentAddress: location.contentAddress, backendId: location.backendId, ok: false, reason: failure.reason, detail: failure.detail },
      options.signal === undefined ? {} : { signal: options.signal },
    );
  } catch (error) {
    return { kind: 'error', detail: `recording the check failed: ${error instanceof Error ? error.message : String(error)}` };
  }
  return found;
}

async function reread(backend: StorageBackend, location: StoredLocation, options: VerifyOptions): Promise<Outcome> {
  const fail = (reason: VerifyFailure['reason'], detail: string): Outcome => ({
    kind: 'failed',
    failure: { contentAddress: location.contentAddress, backendId: location.backendId, storageKey: location.storageKey, reason, detail },
  });
  const signal = options.signal;
  try {
    const bytes = await backend.get(location.storageKey, signal === undefined ? {} : { signal });
    const digest = await digestStream(bytes, { ...(options.pool === undefined ? {} : { pool: options.pool }), ...(signal === undefined ? {} : { signal }) });
    if (digest.size !== Number(location.size)) return fail('size-mismatch', `${location.storageKey} on ${location.backendId} holds ${digest.size} bytes, ${location.size} recorded`);
    if (digest.blake3.toString() !== location.contentAddress) return fail('digest-mismatch', `${location.storageKey} on ${location.backendId}: BLAKE3 is ${digest.blake3.toString()}, recorded ${location.contentAddress}`);
    if (location.sha256 !== '' && digest.sha256.toString() !== location.sha256) return fail('digest-mismatch', `${location.storageKey} on ${location.backendId}: SHA-256 is ${digest.sha256.toString()}, recorded ${location.sha256}`);
    return { kind: 'verified' };
  } catch (error) {
    if (isStorageError(error, 'not-found')) return fail('missing', `${location.storageKey} is missing on ${location.backendId}`);
    if (isStorageError(error, 'integrity')) return fail('size-mismatch', `${location.storageKey} on ${location.backendId}: ${error.message}`);
    return { kind: 'error', detail: error instanceof Error ? error.message : String(error) };
  }
}
