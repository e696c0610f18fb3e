/**
 * What a maintenance command that runs in the data-plane role needs (`storage verify`,
 * `uploads sweep`): the backends opened from the operator configuration (`ARTIFACTSTORE_CONFIG`
 * `[storage]`, the local root from `ARTIFACTSTORE_STORAGE_ROOT` or `<data dir>/objects`) and a transport
 * to the control plane presenting the internal token (`ARTIFACTSTORE_INTERNAL_TOKEN` or
 * `<data dir>/internal-token`). Every problem is reported on stderr naming what to set; the command
 * then exits 2.
 */
import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Transport } from '@connectrpc/connect';
import { createControlTransport } from '../../data-plane/control/control-client.ts';
import type { StorageBackend } from '../../data-plane/storage/backend.ts';
import { openBackends } from '../../data-plane/storage/config/open-backends.ts';
import { loadStorageConfig } from '../../data-plane/storage/config/storage-config.ts';
import type { CommandIo } from '../command-io.ts';

/** The backends (by id) and the control-plane transport of a data-plane-role command. */
export interface DataPlaneRole {
  readonly backends: ReadonlyMap<string, StorageBackend>;
  readonly transport: Transport;
}

/**
 * Opens the data-plane role for `command` (named in messages): every configured backend, or only
 * `backendId`. Undefined after reporting a problem on stderr.
 */
export async function openDataPlaneRole(io: CommandIo, command: string, options: { readonly url: string | undefined; readonly backendId?: string | undefined }): Promise<DataPlaneRole | undefined> {
  const env = io.env;
  const url = (options.url ?? env['ARTIFACTSTORE_URL'] ?? 'http://127.0.0.1:8000').replace(/\/+$/, '');
  const dataDir = resolve(env['ARTIFACTSTORE_DATA_DIR'] || 'var');
  const token = env['ARTIFACTSTORE_INTERNAL_TOKEN'] || (await readFile(join(dataDir, 'internal-token'), 'utf8').catch(() => '')).trim();
  if (token === '') {
    io.err(`${command}: set ARTIFACTSTORE_INTERNAL_TOKEN (or run where ${join(dataDir, 'internal-token')} exists)`);
    return undefined;
  }
  const config = await loadStorageConfig(env);
  if (options.backendId !== undefined && !config.backends.some((b) => b.id === options.backendId)) {
    io.err(`${command}: --backend ${options.backendId} is not configured (have: ${config.backends.map((b) => b.id).join(', ')})`);
    return undefined;
  }
  const storageRoot = resolve(env['ARTIFACTSTORE_STORAGE_ROOT'] || join(dataDir, 'objects'));
  if (config.backends.some((b) => b.kind === 'local' && b.root === undefined) && !(await isDirectory(storageRoot))) {
    io.err(`${command}: the local storage root ${storageRoot} does not exist; run where the data plane stores (set ARTIFACTSTORE_DATA_DIR or ARTIFACTSTORE_STORAGE_ROOT)`);
    return undefined;
  }
  const opened = await openBackends(config, { env, defaultLocalRoot: storageRoot, createDefaultRoot: false });
  const backends = new Map(opened.all.filter((b) => options.backendId === undefined || b.id === options.backendId).map((b) => [b.id, b]));
  return { backends, transport: createControlTransport({ baseUrl: url, internalToken: token }) };
}

async function isDirectory(path: string): Promise<boolean> {
  return stat(path).then((info) => info.isDirectory(), () => false);
}
