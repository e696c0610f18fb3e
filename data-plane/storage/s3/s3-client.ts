/**
 * The slice of the AWS SDK the S3 backend uses (`S3Like`), and the one place an SDK client is built,
 * with the settings every S3-compatible store here needs (see docs/adr/0010-s3-backend.md):
 *
 * - `requestChecksumCalculation` / `responseChecksumValidation: 'WHEN_REQUIRED'`: the SDK's default
 *   (since 3.729) sends streamed bodies `aws-chunked` with a trailing CRC32; Ceph RGW 16 answers 411
 *   and some emulators store the framing as data. Integrity is ours anyway: both digests are computed
 *   by the data plane before commit and re-checked by `storage verify`.
 * - `forcePathStyle: true`: RGW and most on-premises stores have no wildcard DNS for bucket hosts.
 */
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { S3 } from '@aws-sdk/client-s3';

/** The SDK calls the backend makes; a test may hand in a small fake instead of a client. */
export type S3Like = Pick<
  S3,
  | 'putObject'
  | 'getObject'
  | 'headObject'
  | 'deleteObject'
  | 'listObjectsV2'
  | 'headBucket'
  | 'createMultipartUpload'
  | 'uploadPart'
  | 'completeMultipartUpload'
  | 'abortMultipartUpload'
  | 'copyObject'
  | 'uploadPartCopy'
>;

/** Where and as whom to connect. */
export interface S3ClientOptions {
  readonly endpointUrl: string;
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** Milliseconds to wait for a TCP connection (default 5 s). */
  readonly connectTimeoutMs?: number;
  /** Attempts per call, including the first (default 3). */
  readonly maxAttempts?: number;
}

/** Builds an SDK client for an S3-compatible endpoint. */
export function createS3Client(options: S3ClientOptions): S3 {
  const agentOptions = { keepAlive: true, maxSockets: 64 };
  return new S3({
    endpoint: options.endpointUrl,
    region: options.region,
    credentials: { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey },
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: options.maxAttempts ?? 3,
    // The SDK builds its NodeHttpHandler from these options (no direct dependency on @smithy packages).
    requestHandler: {
      connectionTimeout: options.connectTimeoutMs ?? 5_000,
      httpAgent: new HttpAgent(agentOptions),
      httpsAgent: new HttpsAgent(agentOptions),
    },
  });
}

/** The SDK's per-call options carrying `signal` (left out when there is none). */
export function callOptions(signal: AbortSignal | undefined): { abortSignal: AbortSignal } | Record<string, never> {
  return signal === undefined ? {} : { abortSignal: signal };
}
