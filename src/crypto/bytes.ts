/**
 * Byte helpers shared by every crypto module: argument checks in noble's style
 * (they return the value, a wrong type throws TypeError, a wrong size RangeError,
 * and the message names the field), constant-time comparison, and best-effort
 * wiping. Zeroizing in JavaScript is best effort: the engine may have copied a
 * buffer, and bigints and strings cannot be wiped at all, which is why secrets
 * stay in Uint8Arrays and are cleared in `finally`.
 */
import { timingSafeEqual } from 'node:crypto';

/**
 * Checks that `value` is a Uint8Array (of `length` bytes, when given).
 * @throws {TypeError} when it is not a Uint8Array.
 * @throws {RangeError} when its length differs.
 */
export function abytes(value: unknown, length: number | undefined, field: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new TypeError(`${field} must be a Uint8Array`);
  if (length !== undefined && value.length !== length) {
    throw new RangeError(`${field} must be ${length} bytes, got ${value.length}`);
  }
  return value;
}

/** Overwrites each buffer with zeros (best effort; see the module header). */
export function wipe(...buffers: Array<Uint8Array | undefined | null>): void {
  for (const b of buffers) if (b) b.fill(0);
}

/** Constant-time equality for MACs, tokens and signatures; false on length mismatch. */
export function equalConstantTime(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  return timingSafeEqual(a, b);
}

/** Concatenates byte arrays into a fresh Uint8Array. */
export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const utf8 = new TextEncoder();
/** UTF-8 encodes a string. */
export function utf8Bytes(s: string): Uint8Array {
  return utf8.encode(s);
}

/** Views a Node Buffer (or any Uint8Array) as a plain Uint8Array without copying. */
export function asBytes(b: Uint8Array): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}
