/**
 * Idempotency of the guide-board ingest: finds the packages an earlier ingest of the same run left,
 * by ListPackages filtered on producer `guide-board` and metadata `run_id` (the caller's tenant only).
 * There is no server-side uniqueness: two ingests of one run started at the same instant can both
 * create a package (documented in docs/guide-board.md).
 */
import { fromJson } from '@bufbuild/protobuf';
import { ValueSchema } from '@bufbuild/protobuf/wkt';
import type { Client } from '@connectrpc/connect';
import { PackageStatus, type Package } from '../../gen/artifactstore/v1/package_pb.ts';
import type { RegistryService } from '../../gen/artifactstore/v1/registry_service_pb.ts';
import { abortable } from '../client/connection.ts';

/** The producer every guide-board package is registered under. */
export const GUIDE_BOARD_PRODUCER = 'guide-board';

/** Earlier packages of one run. */
export interface ExistingPackages {
  /** Finalized packages, newest first. */
  readonly finalized: readonly Package[];
  /** Packages still open (created or uploading), newest first: an interrupted or concurrent ingest. */
  readonly open: readonly Package[];
}

/** Lists every package of run `runId` (all pages). */
export async function findRunPackages(registry: Client<typeof RegistryService>, runId: string, signal?: AbortSignal): Promise<ExistingPackages> {
  const finalized: Package[] = [];
  const open: Package[] = [];
  let pageToken = '';
  do {
    const page = await registry.listPackages({ producer: GUIDE_BOARD_PRODUCER, metadata: [{ key: 'run_id', value: fromJson(ValueSchema, runId) }], pageSize: 1000, pageToken }, abortable(signal));
    for (const p of page.packages) {
      if (p.status === PackageStatus.FINALIZED) finalized.push(p);
      else if (p.status === PackageStatus.CREATED || p.status === PackageStatus.UPLOADING) open.push(p);
    }
    pageToken = page.nextPageToken;
  } while (pageToken !== '');
  return { finalized, open };
}
