/**
 * A structural description of a decoded CBOR value that `toEqual` compares strictly: map keys in
 * enumeration order, each map's prototype, and the exact class of byte strings, which `toEqual` on
 * the values themselves would overlook.
 */
import type { CborValue } from '../../core/cbor/canonical.ts';

/** A JSON-comparable description of `value`, key order included. */
export type OrderedShape = null | boolean | number | string | { readonly [tag: string]: unknown };

/** Describes `value` so that two values compare equal exactly when they are indistinguishable to a reader. */
export function orderedShape(value: CborValue): OrderedShape {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return value;
  if (typeof value === 'number') return { number: Object.is(value, -0) ? '-0' : value };
  if (value instanceof Uint8Array) return { bytes: Buffer.from(value).toString('hex'), class: value.constructor.name };
  if (Array.isArray(value)) return { array: (value as readonly CborValue[]).map(orderedShape) };
  const proto = Object.getPrototypeOf(value) === Object.prototype ? 'Object' : 'other';
  return { map: Object.keys(value).map((k) => [k, orderedShape((value as Record<string, CborValue>)[k] as CborValue)]), proto };
}
