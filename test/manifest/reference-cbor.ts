/**
 * A deliberately small CBOR reader and writer written from RFC 8949 (§3, §4.2.1) for tests only,
 * sharing no code with cborg. Two jobs:
 * - an independent check of the canonical encoder: for every golden vector and every generated
 *   manifest, this writer in its default (canonical) mode must produce the same bytes as
 *   `encodeManifest`, and this reader must decode them to the same value;
 * - a source of non-canonical encodings of a valid manifest (other key orders, wide integers,
 *   float64 everywhere, indefinite lengths) that the strict decoder must reject.
 *
 * Value domain as in the manifest: null, booleans, safe integers, finite non-integral numbers,
 * well-formed strings, arrays, plain objects.
 */

/** Knobs for producing non-canonical (but well-formed) encodings; all off gives the canonical form. */
export type ReferenceWriterOptions = {
  /** Map key order: bytewise order of the encoded keys (canonical), object insertion order, or the reverse of canonical. */
  readonly keyOrder?: 'canonical' | 'insertion' | 'reverse';
  /** Write every integer argument (integers and lengths) in the 8-byte form. */
  readonly wideArguments?: boolean;
  /** Write every non-integral number as a float64, even where float16 or float32 is exact. */
  readonly float64?: boolean;
  /** Write every map with indefinite length. */
  readonly indefiniteMaps?: boolean;
};

const utf8 = new TextEncoder();

/** The IEEE 754 binary16 bits of `x`, or undefined when binary16 cannot hold `x` exactly. */
function halfBits(x: number): number | undefined {
  const sign = x < 0 ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a === 0) return sign;
  // Subnormal halves are m * 2^-24 with 0 < m < 1024; scaling by a power of two is exact.
  if (a < 2 ** -14) {
    const m = a * 2 ** 24;
    return Number.isInteger(m) ? sign | m : undefined;
  }
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e -= 1;
  if (2 ** (e + 1) <= a) e += 1;
  if (e > 15) return undefined;
  const fraction = (a / 2 ** e - 1) * 1024;
  return Number.isInteger(fraction) ? sign | ((e + 15) << 10) | fraction : undefined;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return (a[i] ?? 0) - (b[i] ?? 0);
  return a.length - b.length;
}

/** Encodes `value`; canonical RFC 8949 §4.2.1 form unless `options` ask otherwise. */
export function writeCbor(value: unknown, options: ReferenceWriterOptions = {}): Uint8Array {
  const out: number[] = [];
  const head = (major: number, arg: number): void => {
    if (options.wideArguments === true || arg >= 2 ** 32) {
      out.push((major << 5) | 27);
      const hi = Math.floor(arg / 2 ** 32);
      const lo = arg % 2 ** 32;
      for (const word of [hi, lo]) out.push((word >>> 24) & 0xff, (word >>> 16) & 0xff, (word >>> 8) & 0xff, word & 0xff);
    } else if (arg < 24) out.push((major << 5) | arg);
    else if (arg < 2 ** 8) out.push((major << 5) | 24, arg);
    else if (arg < 2 ** 16) out.push((major << 5) | 25, arg >>> 8, arg & 0xff);
    else out.push((major << 5) | 26, (arg >>> 24) & 0xff, (arg >>> 16) & 0xff, (arg >>> 8) & 0xff, arg & 0xff);
  };
  const float = (x: number): void => {
    const half = options.float64 === true ? undefined : halfBits(x);
    const view = new DataView(new ArrayBuffer(8));
    if (half !== undefined) out.push(0xf9, half >>> 8, half & 0xff);
    else if (options.float64 !== true && Math.fround(x) === x) {
      view.setFloat32(0, x);
      out.push(0xfa, ...new Uint8Array(view.buffer, 0, 4));
    } else {
      view.setFloat64(0, x);
      out.push(0xfb, ...new Uint8Array(view.buffer));
    }
  };
  const item = (v: unknown): void => {
    if (v === null) out.push(0xf6);
    else if (v === true) out.push(0xf5);
    else if (v === false) out.push(0xf4);
    else if (typeof v === 'number') {
      if (!Number.isInteger(v)) float(v);
      else if (v >= 0) head(0, v);
      else head(1, -1 - v);
    } else if (typeof v === 'string') {
      const bytes = utf8.encode(v);
      head(3, bytes.length);
      out.push(...bytes);
    } else if (Array.isArray(v)) {
      head(4, v.length);
      for (const x of v) item(x);
    } else if (typeof v === 'object') {
      let entries = Object.entries(v as Record<string, unknown>);
      if (options.keyOrder !== 'insertion') {
        // §4.2.1: keys sorted by the bytewise lexicographic order of their deterministic encodings.
        const keyBytes = new Map(entries.map(([k]) => [k, writeCbor(k)]));
        entries = entries.sort(([a], [b]) => compareBytes(keyBytes.get(a) ?? new Uint8Array(), keyBytes.get(b) ?? new Uint8Array()));
        if (options.keyOrder === 'reverse') entries.reverse();
      }
      if (options.indefiniteMaps === true) out.push(0xbf);
      else head(5, entries.length);
      for (const [k, x] of entries) {
        item(k);
        item(x);
      }
      if (options.indefiniteMaps === true) out.push(0xff);
    } else throw new TypeError(`reference writer cannot encode ${typeof v}`);
  };
  item(value);
  return new Uint8Array(out);
}

/**
 * Decodes definite-length CBOR in the manifest's value domain. Throws on anything else, on duplicate
 * keys and on trailing bytes. Accepts non-shortest forms: canonicality is checked by re-encoding.
 */
export function readCbor(bytes: Uint8Array): unknown {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const text = new TextDecoder('utf-8', { fatal: true });
  let at = 0;
  const take = (n: number): number => {
    if (at + n > bytes.length) throw new RangeError('truncated');
    const start = at;
    at += n;
    return start;
  };
  const argument = (info: number): number => {
    if (info < 24) return info;
    if (info === 24) return view.getUint8(take(1));
    if (info === 25) return view.getUint16(take(2));
    if (info === 26) return view.getUint32(take(4));
    if (info === 27) {
      const start = take(8);
      return view.getUint32(start) * 2 ** 32 + view.getUint32(start + 4);
    }
    throw new RangeError(`unsupported additional information ${info}`);
  };
  const item = (): unknown => {
    const initial = view.getUint8(take(1));
    const major = initial >> 5;
    const info = initial & 0x1f;
    switch (major) {
      case 0:
        return argument(info);
      case 1:
        return -1 - argument(info);
      case 3: {
        const n = argument(info);
        return text.decode(bytes.subarray(take(n), at));
      }
      case 4:
        return Array.from({ length: argument(info) }, () => item());
      case 5: {
        const n = argument(info);
        const obj: Record<string, unknown> = {};
        for (let i = 0; i < n; i++) {
          const key = item();
          if (typeof key !== 'string') throw new TypeError('non-text map key');
          if (Object.hasOwn(obj, key)) throw new TypeError(`duplicate key ${key}`);
          Object.defineProperty(obj, key, { value: item(), enumerable: true, writable: true, configurable: true });
        }
        return obj;
      }
      case 7: {
        if (info === 20) return false;
        if (info === 21) return true;
        if (info === 22) return null;
        if (info === 25) {
          const h = view.getUint16(take(2));
          const e = (h >> 10) & 0x1f;
          const f = h & 0x3ff;
          const magnitude = e === 0 ? f * 2 ** -24 : (1 + f / 1024) * 2 ** (e - 15);
          return h & 0x8000 ? -magnitude : magnitude;
        }
        if (info === 26) return view.getFloat32(take(4));
        if (info === 27) return view.getFloat64(take(8));
        throw new RangeError(`unsupported simple value ${info}`);
      }
      default:
        throw new RangeError(`unsupported major type ${major}`);
    }
  };
  const value = item();
  if (at !== bytes.length) throw new RangeError(`${bytes.length - at} trailing bytes`);
  return value;
}
