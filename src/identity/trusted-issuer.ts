/**
 * What the operator says about an issuer it trusts: its `iss` value, the
 * audiences it accepts, where its keys come from (OIDC discovery by default,
 * a JWKS URL, or an inline JWKS), and which algorithms it may sign with.
 * Follows OpenID Connect Discovery 1.0 §4 for the discovery location.
 */
import type { JSONWebKeySet } from 'jose';
import { checkAlgorithms, DEFAULT_ALGORITHMS } from './algorithms.js';

export interface TrustedIssuer {
  /** Exactly the token's `iss` (Auth0's ends with "/"; keep it). */
  issuer: string;
  /** Accepted `aud` values; a token must name at least one. */
  audiences: readonly string[];
  /** Where the keys are; when absent and `jwks` is absent, found by OIDC discovery. */
  jwksUri?: string | undefined;
  /** The keys themselves (public JWKs). */
  jwks?: JSONWebKeySet | undefined;
  /** Allowed `alg` values; defaults to RS256, ES256, EdDSA, PS256. */
  algorithms?: readonly string[] | undefined;
  /**
   * When set, a token must carry this `token_use` claim (AWS Cognito's
   * convention, which the built-in issuer follows: `access` for APIs, `id`
   * for STS web identity), so that a token meant for one service is refused
   * by another.
   */
  tokenUse?: string | undefined;
}

/** A checked, frozen TrustedIssuer with its algorithms filled in. */
export interface CheckedIssuer {
  readonly issuer: string;
  readonly audiences: readonly string[];
  readonly jwksUri: string | undefined;
  readonly jwks: JSONWebKeySet | undefined;
  readonly algorithms: readonly string[];
  readonly tokenUse: string | undefined;
}

const LOOPBACK = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])$/i;

/**
 * Checks that a URL we will fetch keys from is https, or http on loopback
 * (development and tests): keys fetched over plain http from elsewhere could be
 * swapped by anyone on the path.
 * @throws {RangeError} when it is neither.
 */
export function checkFetchUrl(url: string, field: string): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new RangeError(`${field} must be an absolute URL`);
  }
  if (u.protocol === 'https:') return u;
  if (u.protocol === 'http:' && LOOPBACK.test(u.hostname)) return u;
  throw new RangeError(`${field} must be an https URL (plain http only on loopback): ${u.protocol}//${u.host}`);
}

/** OIDC Discovery §4: a terminating "/" is removed before appending the well-known path. */
export function discoveryUrl(issuer: string): string {
  return issuer.replace(/\/+$/, '') + '/.well-known/openid-configuration';
}

/**
 * Checks one trusted-issuer entry (from configuration or code).
 * @throws {TypeError} when a field has the wrong type.
 * @throws {RangeError} when a value is not acceptable (the message names the field).
 */
export function checkTrustedIssuer(input: unknown, field = 'issuer'): CheckedIssuer {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new TypeError(`${field} must be an object`);
  const o = input as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!['issuer', 'audiences', 'audience', 'jwksUri', 'jwks', 'algorithms', 'tokenUse'].includes(k))
      throw new RangeError(`${field}: unknown field ${k.slice(0, 32)}`);
  }
  const issuer = o.issuer;
  if (typeof issuer !== 'string' || issuer.length === 0 || issuer.length > 512) throw new TypeError(`${field}.issuer must be a URL string`);
  let parsed: URL;
  try {
    parsed = new URL(issuer);
  } catch {
    throw new RangeError(`${field}.issuer must be an absolute URL`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new RangeError(`${field}.issuer must be an http(s) URL`);
  if (parsed.search || parsed.hash) throw new RangeError(`${field}.issuer must not have a query or fragment (OIDC Discovery §2)`);

  let audiences: unknown = o.audiences ?? (o.audience === undefined ? undefined : [o.audience]);
  if (!Array.isArray(audiences) || audiences.length === 0) throw new RangeError(`${field}.audiences must be a non-empty array of strings`);
  for (const a of audiences)
    if (typeof a !== 'string' || a.length === 0 || a.length > 512) throw new TypeError(`${field}.audiences must hold non-empty strings`);
  audiences = Object.freeze([...new Set(audiences as string[])]);

  let jwksUri: string | undefined;
  let jwks: JSONWebKeySet | undefined;
  if (o.jwks !== undefined && o.jwksUri !== undefined) throw new RangeError(`${field}: give jwks or jwksUri, not both`);
  if (o.jwksUri !== undefined) {
    if (typeof o.jwksUri !== 'string') throw new TypeError(`${field}.jwksUri must be a URL string`);
    jwksUri = checkFetchUrl(o.jwksUri, `${field}.jwksUri`).href;
  } else if (o.jwks !== undefined) {
    const keys = (o.jwks as { keys?: unknown } | null)?.keys;
    if (!Array.isArray(keys) || keys.length === 0) throw new RangeError(`${field}.jwks must be a JWKS: {"keys": [...]}`);
    for (const k of keys) {
      if (typeof k !== 'object' || k === null) throw new TypeError(`${field}.jwks.keys must hold JWK objects`);
      const jwk = k as Record<string, unknown>;
      // A private or symmetric key in a trust list is a configuration mistake that would also leak it.
      if (jwk.kty === 'oct') throw new RangeError(`${field}.jwks: symmetric (oct) keys are never allowed`);
      if ('d' in jwk || 'p' in jwk || 'q' in jwk) throw new RangeError(`${field}.jwks: holds a private key; give public keys only`);
    }
    jwks = structuredClone(o.jwks as JSONWebKeySet);
  } else {
    checkFetchUrl(discoveryUrl(issuer), `${field}.issuer (its discovery document)`);
  }

  const algorithms = o.algorithms === undefined ? DEFAULT_ALGORITHMS : checkAlgorithms(o.algorithms as string[], `${field}.algorithms`);
  const tokenUse = o.tokenUse;
  if (tokenUse !== undefined && (typeof tokenUse !== 'string' || !/^[A-Za-z0-9_.:-]{1,64}$/.test(tokenUse)))
    throw new RangeError(`${field}.tokenUse must be a short token_use value (e.g. "access", "id")`);
  return Object.freeze({ issuer, audiences: audiences as readonly string[], jwksUri, jwks, algorithms, tokenUse });
}
