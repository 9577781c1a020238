/**
 * The JWS algorithms (RFC 7518, RFC 8037, RFC 9864) a trusted issuer may use.
 * Only asymmetric ones: a verifier holds public keys, and an HMAC algorithm
 * checked with a public key is the classic key-confusion forgery (anyone can
 * MAC with the public key). `none` is never accepted.
 */

/** Every algorithm an operator may allow for an issuer. */
export const ASYMMETRIC_ALGORITHMS: ReadonlySet<string> = new Set([
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
]);

/** What an issuer may use when its configuration names no algorithms. */
export const DEFAULT_ALGORITHMS: readonly string[] = Object.freeze(['RS256', 'ES256', 'EdDSA', 'PS256']);

/**
 * Checks an issuer's algorithm allowlist.
 * @throws {RangeError} when the list is empty or names `none`, an HMAC algorithm, or an unknown one.
 */
export function checkAlgorithms(algorithms: readonly string[], field: string): readonly string[] {
  if (!Array.isArray(algorithms) || algorithms.length === 0) throw new RangeError(`${field} must be a non-empty array of algorithm names`);
  for (const a of algorithms) {
    if (typeof a !== 'string') throw new TypeError(`${field} must hold strings`);
    if (a.toLowerCase() === 'none') throw new RangeError(`${field}: "none" is never allowed`);
    if (/^HS/i.test(a)) throw new RangeError(`${field}: HMAC algorithms (${a}) are never allowed for a public-key issuer`);
    if (!ASYMMETRIC_ALGORITHMS.has(a))
      throw new RangeError(`${field}: unsupported algorithm ${a.slice(0, 16)}; use one of ${[...ASYMMETRIC_ALGORITHMS].join(', ')}`);
  }
  return Object.freeze([...new Set(algorithms)]);
}
