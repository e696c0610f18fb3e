/**
 * `artifactstore manifest <package-id> [--json] [--out FILE]`: the canonical manifest of a finalized
 * package: CBOR bytes exactly as stored (the digest's preimage), or with --json its RFC 8785 JSON
 * projection. The manifest digest goes to stderr.
 */
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import type { CommandIo } from '../command-io.ts';
import { openConnection } from '../client/connection.ts';
import { ManifestFormat } from '../../gen/artifactstore/v1/registry_service_pb.ts';

/** Runs the command; returns the exit status. */
export async function manifestCommand(io: CommandIo, args: readonly string[], stdout: { readonly isTTY?: boolean; write(bytes: Uint8Array): unknown }): Promise<number> {
  const { values, positionals } = parseArgs({ args: [...args], allowPositionals: true, strict: true, options: { json: { type: 'boolean', default: false }, out: { type: 'string' }, url: { type: 'string' }, token: { type: 'string' } } });
  const packageId = positionals[0];
  if (packageId === undefined || positionals.length > 1) {
    io.err('usage: artifactstore manifest <package-id> [--json] [--out FILE]');
    return 2;
  }
  if (!values.json && values.out === undefined && stdout.isTTY === true) {
    io.err('manifest: the CBOR manifest is binary; use --json for text, --out FILE, or redirect stdout');
    return 2;
  }
  const conn = await openConnection({ url: values.url, token: values.token, env: io.env });
  const res = await conn.registry.getManifest({ packageId, format: values.json ? ManifestFormat.JSON : ManifestFormat.CBOR });
  io.err(`manifest digest ${res.manifestDigest}`);
  if (values.out !== undefined) await writeFile(values.out, res.manifest);
  else if (values.json) io.out(Buffer.from(res.manifest).toString('utf8'));
  else stdout.write(res.manifest);
  return 0;
}
