/**
 * `artifactstore storage verify [--backend ID] [--json]`: re-reads every recorded copy on the storage
 * backends, recomputes both digests, and records each outcome through the control plane
 * (`v1.storage.location_verified` / `v1.storage.location_failed`). It runs in the data-plane role, on a
 * host with the operator configuration (`ARTIFACTSTORE_CONFIG`, for the backends and their credential
 * references) and the internal token (`ARTIFACTSTORE_INTERNAL_TOKEN` or `<data dir>/internal-token`).
 * Exit 0: everything verified; 1: a copy failed; 2: a copy could not be checked.
 */
import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createConnectTransport } from '@connectrpc/connect-node';
import { openBackends } from '../../data-plane/storage/config/open-backends.ts';
import { loadStorageConfig } from '../../data-plane/storage/config/storage-config.ts';
import { verifyStorage } from '../../data-plane/verify/verify-storage.ts';
import type { CommandIo } from '../command-io.ts';



/** Runs `storage <subcommand>`. */
export async function storageCommand(io: CommandIo, args: readonly string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== 'verify') {
    io.err(`usage: artifactstore storage verify [--backend ID] [--json] (unknown subcommand ${JSON.stringify(sub ?? '')})`);
    return 2;
  }
  const { values } = parseArgs({ args: rest, strict: true, options: { backend: { type: 'string' }, json: { type: 'boolean', default: false }, url: { type: 'string' } } });
  const env = io.env;
  const url = (values.url ?? env['ARTIFACTSTORE_URL'] ?? 'http://127.0.0.1:8000').replace(/\/+$/, '');
  const dataDir = resolve(env['ARTIFACTSTORE_DATA_DIR'] || 'var');
  const token = env['ARTIFACTSTORE_INTERNAL_TOKEN'] || (await readFile(join(dataDir, 'internal-token'), 'utf8').catch(() => '')).trim();
  if (token === '') {
    io.err(`storage verify: set ARTIFACTSTORE_INTERNAL_TOKEN (or run where ${join(dataDir, 'internal-token')} exists)`);
    return 2;
  }
  const config = await loadStorageConfig(env);
  if (values.backend !== undefined && !config.backends.some((b) => b.id === values.backend)) {
    io.err(`storage verify: --backend ${values.backend} is not configured (have: ${config.backends.map((b) => b.id).join(', ')})`);
    return 2;
  }
  const storageRoot = resolve(env['ARTIFACTSTORE_STORAGE_ROOT'] || join(dataDir, 'objects'));
  if (config.backends.some((b) => b.kind === 'local' && b.root === undefined) && !(await isDirectory(storageRoot))) {
    io.err(`storage verify: the local storage root ${storageRoot} does not exist; run where the data plane stores (set ARTIFACTSTORE_DATA_DIR or ARTIFACTSTORE_STORAGE_ROOT)`);
    return 2;
  }
  const backends = await openBackends(config, { env, defaultLocalRoot: storageRoot, createDefaultRoot: false });
  const transport = createConnectTransport({
    baseUrl: url,
    httpVersion: '1.1',
    interceptors: [
      (next) => (req) => {
        req.header.set('authorization', `Bearer ${token}`);
        return next(req);
      },
    ],
  });
  const summary = await verifyStorage({
    backends: new Map(backends.all.map((b) => [b.id, b])),
    transport,
    ...(values.backend === undefined ? {} : { backendId: values.backend }),
    onChecked: (location, outcome, detail) => {
      if (!values.json && outcome !== 'verified') io.err(`${outcome === 'failed' ? 'FAILED' : 'ERROR '} ${location.backendId} ${location.storageKey}: ${detail}`);
    },
  });
  if (values.json) {
    io.out(JSON.stringify({ checked: summary.checked, verified: summary.verified, failed: summary.failed.map((f) => ({ content_address: f.contentAddress, backend_id: f.backendId, storage_key: f.storageKey, reason: f.reason, detail: f.detail })), errors: summary.errors.length }));
  } else {
    io.out(`${summary.checked} checked, ${summary.verified} verified, ${summary.failed.length} failed, ${summary.errors.length} not checked`);
  }
  return summary.failed.length > 0 ? 1 : summary.errors.length > 0 ? 2 : 0;
}

async function isDirectory(path: string): Promise<boolean> {
  return stat(path).then((info) => info.isDirectory(), () => false);
}
