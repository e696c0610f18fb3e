/**
 * `artifactstore ls`: packages newest first, filtered like ListPackages, one line each (or JSON
 * lines with --json), following pages up to --limit.
 */
import { parseArgs } from 'node:util';
import { timestampDate } from '@bufbuild/protobuf/wkt';
import type { CommandIo } from '../command-io.ts';
import { openConnection } from '../client/connection.ts';
import { PackageStatus, type Package } from '../../gen/artifactstore/v1/package_pb.ts';

const STATUS: Readonly<Record<string, PackageStatus>> = {
  created: PackageStatus.CREATED,
  uploading: PackageStatus.UPLOADING,
  finalized: PackageStatus.FINALIZED,
  deleted: PackageStatus.DELETED,
  failed: PackageStatus.FAILED,
};

function statusName(status: PackageStatus): string {
  return Object.entries(STATUS).find(([, value]) => value === status)?.[0] ?? 'unknown';
}

function row(p: Package): Record<string, unknown> {
  return {
    package_id: p.packageId,
    status: statusName(p.status),
    producer: p.producer,
    subject: p.subject,
    retention_class: p.retentionClass,
    file_count: Number(p.fileCount),
    total_bytes: Number(p.totalBytes),
    created_at: p.createdAt === undefined ? null : timestampDate(p.createdAt).toISOString(),
    expires_at: p.expiresAt === undefined ? null : timestampDate(p.expiresAt).toISOString(),
    manifest_digest: p.manifestDigest === '' ? null : p.manifestDigest,
  };
}

/** Runs `ls [filters] [--limit N] [--json]`; returns the exit status. */
export async function listCommand(io: CommandIo, args: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...args],
    strict: true,
    options: {
      producer: { type: 'string' },
      subject: { type: 'string' },
      'retention-class': { type: 'string' },
      status: { type: 'string' },
      limit: { type: 'string', default: '100' },
      json: { type: 'boolean', default: false },
      url: { type: 'string' },
      token: { type: 'string' },
    },
  });
  const limit = Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 100_000) {
    io.err(`ls: --limit must be an integer from 1 to 100000 (got ${JSON.stringify(values.limit)})`);
    return 2;
  }
  const status = values.status === undefined ? PackageStatus.UNSPECIFIED : STATUS[values.status];
  if (status === undefined) {
    io.err(`ls: --status must be one of ${Object.keys(STATUS).join(', ')} (got ${JSON.stringify(values.status)})`);
    return 2;
  }
  const conn = await openConnection({ url: values.url, token: values.token, env: io.env });
  let pageToken = '';
  let shown = 0;
  let header = !values.json; // printed once the first page is in: a failed call prints no table
  do {
    const page = await conn.registry.listPackages({
      producer: values.producer ?? '',
      subject: values.subject ?? '',
      retentionClass: values['retention-class'] ?? '',
      status,
      pageSize: Math.min(1000, limit - shown),
      pageToken,
    });
    if (header) io.out(['PACKAGE', 'STATUS', 'FILES', 'BYTES', 'CREATED', 'PRODUCER', 'SUBJECT'].join('\t'));
    header = false;
    for (const p of page.packages) {
      const r = row(p);
      io.out(values.json ? JSON.stringify(r) : [r['package_id'], r['status'], r['file_count'], r['total_bytes'], r['created_at'], r['producer'], r['subject']].join('\t'));
      if (++shown >= limit) break;
    }
    pageToken = page.nextPageToken;
  } while (pageToken !== '' && shown < limit);
  return 0;
}
