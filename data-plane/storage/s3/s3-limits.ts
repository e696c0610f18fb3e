/**
 * Multipart limits and defaults of the S3 backend, apart from the backend itself so configuration
 * parsing does not load the AWS SDK (a data plane with only local backends never does).
 */

/** Defaults of the part sizes. */
export const DEFAULT_MULTIPART_THRESHOLD_BYTES = 16 * 1024 * 1024;
export const DEFAULT_MULTIPART_CHUNK_BYTES = 8 * 1024 * 1024;
/** S3's smallest part (all but the last). */
export const MIN_MULTIPART_CHUNK_BYTES = 5 * 1024 * 1024;
/** S3's largest part and largest single CopyObject. */
export const MAX_MULTIPART_CHUNK_BYTES = 5 * 1024 ** 3;
