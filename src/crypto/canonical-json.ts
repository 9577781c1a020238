/**
 * Canonical JSON for hashing and signing (the audit chain and its signed
 * checkpoints, src/audit/; pure and without I/O like the rest of src/crypto/):
 * object keys sorted (by UTF-16 code units, JavaScript's default order), no
 * whitespace, strings escaped by JSON.stringify (lone surrogates as
 * `\udXXX`), only finite numbers. The same value always gives the same bytes,
 * in every process and on every dialect.
 */

export type CanonicalValue = string | number | boolean | null | CanonicalValue[] | { [key: string]: CanonicalValue };

/**
 * Serializes `value` canonically.
 * @throws {TypeError} on a non-finite number or a value JSON cannot hold.
 */
export function canonicalJson(value: CanonicalValue): string {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError('canonical JSON holds only finite numbers');
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object') {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k]!)}`).join(',')}}`;
  }
  throw new TypeError(`canonical JSON cannot hold a ${typeof value}`);
}
