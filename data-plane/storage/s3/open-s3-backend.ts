/**
 * Opens a configured S3 backend at data-plane start: resolves the credential references, then checks
 * the bucket with one HeadBucket, so a wrong endpoint, bucket or key pair stops the start with a
 * message naming the configuration key at fault (and never the secret).
 */
import { readFile } from 'node:fs/promises';
import { createS3Backend, type S3Backend } from './s3-backend.ts';
import { S3ConfigError, type S3BackendConfig, type SecretRef } from './s3-config.ts';
import { callOptions } from './s3-client.ts';
import { s3ErrorName, s3HttpStatus } from './s3-errors.ts';

/** Resolves a secret reference; the error names `key` and the variable or file, never a value. */
export async function resolveSecretRef(ref: SecretRef, key: string, env: NodeJS.ProcessEnv): Promise<string> {
  if (ref.kind === 'env') {
    const value = env[ref.name];
    if (value === undefined || value === '') throw new S3ConfigError(`${key}: environment variable ${ref.name} is not set`);
    return value;
  }
  let text: string;
  try {
    text = await readFile(ref.path, 'utf8');
  } catch (error) {
    throw new S3ConfigError(`${key}: cannot read ${ref.path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const value = text.trim();
  if (value === '') throw new S3ConfigError(`${key}: ${ref.path} is empty`);
  return value;
}

/** Builds the backend and checks its bucket (see the file comment). `where` is `storage.backends.<id>`. */
export async function openS3Backend(config: S3BackendConfig, env: NodeJS.ProcessEnv, where: string, signal?: AbortSignal): Promise<S3Backend> {
  const accessKeyId = await resolveSecretRef(config.accessKeyRef, `${where}.access_key_ref`, env);
  const secretAccessKey = await resolveSecretRef(config.secretKeyRef, `${where}.secret_key_ref`, env);
  const backend = createS3Backend({
    id: config.id,
    endpointUrl: config.endpointUrl,
    region: config.region,
    bucket: config.bucket,
    keyPrefix: config.keyPrefix,
    accessKeyId,
    secretAccessKey,
    ...(config.storageClass === undefined ? {} : { storageClass: config.storageClass }),
    ...(config.sse === undefined ? {} : { sse: config.sse }),
    multipartThresholdBytes: config.multipartThresholdBytes,
    multipartChunkBytes: config.multipartChunkBytes,
  });
  try {
    await backend.client.headBucket({ Bucket: config.bucket }, callOptions(signal));
  } catch (error) {
    throw new S3ConfigError(describeProbeFailure(error, config, where), { cause: error });
  }
  return backend;
}

function describeProbeFailure(error: unknown, config: S3BackendConfig, where: string): string {
  const status = s3HttpStatus(error);
  const name = s3ErrorName(error);
  if (status === 404 || name === 'NoSuchBucket' || name === 'NotFound') return `${where}.bucket: bucket ${JSON.stringify(config.bucket)} does not exist at ${config.endpointUrl}`;
  if (status === 403 || status === 401) return `${where}.access_key_ref / ${where}.secret_key_ref: the credentials were rejected by ${config.endpointUrl} (HTTP ${status})`;
  if (status === undefined) return `${where}.endpoint_url: cannot reach ${config.endpointUrl} (${name || 'no answer'})`;
  return `${where}: checking bucket ${JSON.stringify(config.bucket)} at ${config.endpointUrl} failed with HTTP ${status} ${name}`;
}
