/**
 * fast-check arbitraries for valid v1 manifests, reaching the corners the golden vectors pin:
 * full-range Unicode, shared content between files, receipts on several backends, every number
 * class of the value domain, `__proto__` and other awkward keys, null and non-null expiry.
 */
import fc from 'fast-check';
import type { JsonObject, JsonValue, Manifest, ManifestFile, StorageReceipt } from '../../core/manifest/manifest.ts';
import { formatTimestamp } from '../../core/time/clock.ts';

const CONTROL = /\p{Cc}/u;

/** Any well-formed string: the `binary` unit draws whole code points, never a lone surrogate. */
const text = fc.string({ unit: 'binary', maxLength: 10 });

const identifier = fc.string({ unit: 'binary', minLength: 1, maxLength: 12 }).filter((s) => !CONTROL.test(s));

const segment = fc.oneof(
  fc.string({ unit: 'binary', minLength: 1, maxLength: 6 }),
  fc.constantFrom('a', 'b', 'A', 'é', 'e\u0301', '😀', '\ue000', '.hidden', '...'),
).filter((s) => !s.includes('/') && !s.includes('\0') && s !== '.' && s !== '..');

const relativePath = fc.array(segment, { minLength: 1, maxLength: 3 }).map((parts) => parts.join('/'));

const hex32 = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex'));

const timestamp = fc
  .date({ min: new Date('0000-01-01T00:00:00.000Z'), max: new Date('9999-12-31T23:59:59.999Z'), noInvalidDate: true })
  .map(formatTimestamp);

const mediaType = fc.constantFrom('text/plain', 'text/plain; charset=utf-8', 'application/octet-stream', 'application/vnd.acme.report+json', 'image/png');

const inDomain = (x: number): boolean => Number.isFinite(x) && !Object.is(x, -0) && (!Number.isInteger(x) || Number.isSafeInteger(x));

const number = fc.oneof(
  fc.maxSafeInteger(),
  fc.integer({ min: -70000, max: 70000 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }).filter(inDomain),
  // Values at the float16/float32/float64 boundaries and the smallest subnormals.
  fc.constantFrom(0.5, -1.5, 65504.5, 65536.5, 2 ** -14, 2 ** -24, 2 ** -25, 5e-324, 0.1, 2 ** 52 - 0.5, -(2 ** 31) - 0.5),
);

const key = fc.oneof(text, fc.constantFrom('__proto__', '', 'constructor', 'toJSON', 'hasOwnProperty', '0', '10', '\ue000', '😀'));

const { value: jsonValue, object: jsonObjectArb } = fc.letrec<{ value: JsonValue; array: readonly JsonValue[]; object: JsonObject }>((tie) => ({
  value: fc.oneof({ maxDepth: 4 }, fc.constant(null), fc.boolean(), number, text, tie('array'), tie('object')),
  array: fc.array(tie('value'), { maxLength: 4 }),
  object: fc.dictionary(key, tie('value'), { maxKeys: 5 }),
}));

/** Any JSON value in the manifest's domain. */
export const jsonValueArb: fc.Arbitrary<JsonValue> = jsonValue;

const byCodeUnits = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Any valid v1 manifest. */
export const manifestArb: fc.Arbitrary<Manifest> = fc
  .record({
    pkg: fc.record({
      package_id: identifier,
      tenant: identifier,
      producer: identifier,
      subject: identifier,
      retention_class: identifier,
      created_at: timestamp,
      finalized_at: timestamp,
      metadata: jsonObjectArb,
    }),
    files: fc.array(fc.record({ relative_path: relativePath, media_type: mediaType, content: fc.nat({ max: 3 }) }), { maxLength: 6 }),
    contents: fc.array(fc.record({ blake3: hex32, sha256: hex32, size: fc.oneof(fc.nat({ max: 100 }), fc.maxSafeNat()) }), { minLength: 4, maxLength: 4 }),
    backends: fc.uniqueArray(identifier, { minLength: 1, maxLength: 3 }),
    receipts: fc.array(fc.record({ file: fc.nat(), backend: fc.nat(), stored_at: timestamp }), { maxLength: 8 }),
    retention: fc.record({ retention_class: identifier, expires_at: fc.option(timestamp, { nil: null }), holds_active: fc.oneof(fc.nat({ max: 3 }), fc.maxSafeNat()) }),
    provenance: jsonObjectArb,
  })
  .map(({ pkg, files: drafts, contents, backends, receipts: picks, retention, provenance }): Manifest => {
    // Sort, dedupe, and drop paths that would sit under another file, so every draw is valid.
    const paths = [...new Set(drafts.map((f) => f.relative_path))].sort(byCodeUnits);
    const kept = paths.filter((p) => !p.split('/').some((_, i, parts) => i > 0 && paths.includes(parts.slice(0, i).join('/'))));
    const files: ManifestFile[] = kept.map((relative_path) => {
      const draft = drafts.find((f) => f.relative_path === relative_path);
      const content = contents[draft?.content ?? 0] ?? contents[0];
      if (draft === undefined || content === undefined) throw new Error('unreachable');
      return {
        relative_path,
        size: content.size,
        media_type: draft.media_type,
        digests: { blake3: `blake3:${content.blake3}`, sha256: `sha256:${content.sha256}` },
      };
    });
    const receipts = new Map<string, StorageReceipt>();
    for (const pick of files.length === 0 ? [] : picks) {
      const file = files[pick.file % files.length];
      const backend = backends[pick.backend % backends.length];
      if (file === undefined || backend === undefined) continue;
      const receipt: StorageReceipt = { content_address: file.digests.blake3, backend_id: backend, stored_at: pick.stored_at };
      receipts.set(JSON.stringify([receipt.content_address, receipt.backend_id]), receipt);
    }
    return {
      manifest_version: 1,
      package: pkg,
      files,
      storage_receipts: [...receipts.values()].sort((a, b) => byCodeUnits(a.content_address, b.content_address) || byCodeUnits(a.backend_id, b.backend_id)),
      retention_summary: retention,
      provenance,
    };
  });
