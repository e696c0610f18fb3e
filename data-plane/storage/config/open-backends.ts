/**
 * Opens every configured backend, in one short exhaustive switch over the configuration's kinds. S3
 * backends are checked (bucket, credentials, endpoint) before the data plane starts; a problem stops
 * the start with a StorageConfigError naming the key.
 */
import { mkdir } from 'node:fs/promises';
import type { StorageBackend } from '../backend.ts';
import { createLocalBackend } from '../local/local-backend.ts';
import { StorageConfigError, type BackendConfig, type StorageConfig } from './storage-config.ts';

/** The opened backends: all of them, and the default one new files go to unless routed elsewhere. */
export interface OpenedBackends {
  readonly all: readonly StorageBackend[];
  readonly defaultBackend: StorageBackend;
}

/** Where unconfigured things live. */
export interface OpenBackendsOptions {
  readonly env: NodeJS.ProcessEnv;
  /** Root of a local backend without `root` (created if missing, as `npm start` always did). */
  readonly defaultLocalRoot: string;
  /**
   * Create the default local root when missing (a data plane starting fresh). Off for readers such as
   * `storage verify`: an empty root it created would make every copy look missing.
   */
  readonly createDefaultRoot?: boolean;
  readonly signal?: AbortSignal;
  /** Told each local backend's syncs behind (backend id, seconds): the data plane's metrics. */
  readonly onLocalSyncBehind?: (backendId: string, seconds: number) => void;
}

/** Opens every backend of `config` (see the file comment). */
export async function openBackends(config: StorageConfig, options: OpenBackendsOptions): Promise<OpenedBackends> {
  const all = await Promise.all(config.backends.map((backend) => openBackend(backend, options)));
  const defaultBackend = all.find((backend) => backend.id === config.defaultBackend);
  if (defaultBackend === undefined) throw new StorageConfigError(`storage.default_backend: no backend ${JSON.stringify(config.defaultBackend)} is configured`);
  return { all, defaultBackend };
}

async function openBackend(config: BackendConfig, options: OpenBackendsOptions): Promise<StorageBackend> {
  const where = `storage.backends.${config.id}`;
  switch (config.kind) {
    case 'local': {
      if (config.root === undefined && options.createDefaultRoot !== false) await mkdir(options.defaultLocalRoot, { recursive: true });
      const observe = options.onLocalSyncBehind;
      const backend = createLocalBackend({ id: config.id, root: config.root ?? options.defaultLocalRoot, ...(observe === undefined ? {} : { onSyncBehind: (seconds: number) => observe(config.id, seconds) }) });
      const health = await backend.health(options.signal === undefined ? {} : { signal: options.signal });
      // A configured root is never created: a missing mount must not fill the wrong disk.
      if (!health.ok) throw new StorageConfigError(`${where}.root: ${health.detail}`);
      return backend;
    }
    case 's3':
      try {
        // Loaded only when an S3 backend is configured: the AWS SDK adds tens of MiB to a process.
        const { openS3Backend } = await import('../s3/open-s3-backend.ts');
        return await openS3Backend(config, options.env, where, options.signal);
      } catch (error) {
        throw new StorageConfigError((error as Error).message, { cause: error });
      }
  }
}
