import { defineConfig } from 'vitest/config';

// .ci/run sets ARTIFACTSTORE_TEST_REPORT to get a JSON report it can count from.
const jsonReport = process.env['ARTIFACTSTORE_TEST_REPORT'];

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Stops the Ceph RGW that S3 tests start on first use (one per run; nothing starts otherwise).
    globalSetup: ['test/support/rgw-global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two cores: PGlite instances peak near 1 GB during initdb, so keep file-level parallelism modest.
    maxWorkers: 2,
    ...(jsonReport === undefined ? {} : { reporters: ['default', 'json'], outputFile: { json: jsonReport } }),
  },
});
