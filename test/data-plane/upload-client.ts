/** Upload-session calls over plain HTTP for tests against a cluster, as tenant A. */
import { expect } from 'vitest';
import { decodeCanonical } from '../../core/cbor/canonical.ts';
import { rawRequest, TOKEN_A, type Cluster, type RawResponse } from './cluster.ts';

export const AUTH_A = { authorization: `Bearer ${TOKEN_A}` };

/** What `POST /uploads` answered, plus its `Upload-Expires` header. */
export interface OpenedSession {
  readonly upload_id: string;
  readonly expires_at: string;
  readonly header: string | null;
}

/** Opens a session for `path` in `pkg`; expects 201. */
export async function openSession(cluster: Cluster, pkg: string, path: string): Promise<OpenedSession> {
  const res = await fetch(`${cluster.dataPlane.url}/uploads`, { method: 'POST', headers: { ...AUTH_A, 'content-type': 'application/json' }, body: JSON.stringify({ package_id: pkg, relative_path: path }) });
  expect(res.status).toBe(201);
  return { ...((await res.json()) as { upload_id: string; expires_at: string }), header: res.headers.get('upload-expires') };
}

/** `PATCH /uploads/{id}` of `data` at `start`, total size unknown. */
export function patchChunk(cluster: Cluster, id: string, data: Uint8Array, start: number): Promise<RawResponse> {
  return rawRequest(cluster.dataPlane.url, 'PATCH', `/uploads/${id}`, { ...AUTH_A, 'content-range': `bytes ${start}-${start + data.byteLength - 1}/*`, 'content-length': String(data.byteLength) }, data);
}

/** The session's part objects on the cluster's backend. */
export async function sessionParts(cluster: Cluster, id: string): Promise<string[]> {
  return (await cluster.storedFiles()).filter((f) => f.startsWith(`uploads/${id.toLowerCase()}/`));
}

/** Types of the events whose payload names upload `id`, in log order. */
export async function uploadEvents(cluster: Cluster, id: string): Promise<string[]> {
  const { events } = await cluster.registry.listEvents({ since: 0n, limit: 1000 });
  return events.filter((e) => (decodeCanonical(e.payload) as { upload_id?: unknown }).upload_id === id).map((e) => e.type);
}

/** The stable `code` of a problem+json body. */
export function problemCode(body: Buffer): unknown {
  return (JSON.parse(body.toString()) as { code: unknown }).code;
}
