/**
 * Verifies OIDC/JWT bearer tokens (RFC 7519, RFC 7515) from any issuer the
 * operator trusts, with jose. For each token: pick the issuer by its `iss`
 * (refusing unknown ones before any key fetch), refuse an algorithm outside
 * that issuer's allowlist (so `none` and HS* never reach a key), check the
 * signature against the issuer's JWKS (OIDC discovery, a JWKS URL, or inline;
 * remote sets are cached and refetched on an unknown `kid`, with jose's
 * cooldown), then `iss`, `aud`, `exp`, `nbf` and `iat` with a bounded clock skew
 * (RFC 7519 §4.1, OIDC Core §3.1.3.7).
 *
 * The built-in issuer is not special here: it is one entry of `issuers`.
 */
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  errors as joseErrors,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
} from 'jose';
import { TokenError } from './errors.js';
import { checkTrustedIssuer, type CheckedIssuer, type TrustedIssuer } from './trusted-issuer.js';
import { discoverJwksUri } from './discovery.js';
import { VerifiedTokenCache } from './verified-token-cache.js';
import type { VerifiedToken } from './verified-token.js';

export interface TokenVerifierOptions {
  issuers: readonly TrustedIssuer[];
  /** Allowed clock skew for exp/nbf/iat, in seconds (default 60, at most 300). */
  clockToleranceSec?: number;
  /** Current time in epoch milliseconds (tests). */
  now?: () => number;
  /** Verified tokens kept (until their exp) to skip repeat signature checks; 0 disables. Default 10,000. */
  cacheSize?: number;
  /** Minimum time between JWKS refetches caused by an unknown kid (default 30 s). */
  jwksCooldownMs?: number;
  /** How long a fetched JWKS is used before it is refetched (default 10 min). */
  jwksMaxAgeMs?: number;
  /** Timeout of each discovery or JWKS request (default 5 s). */
  fetchTimeoutMs?: number;
}

/** What a verified token says. */
export type { VerifiedToken } from './verified-token.js';

export interface TokenVerifier {
  /**
   * Verifies a compact JWS token.
   * @throws {TokenError} with a stable code when the token is refused.
   * @throws {TypeError} when `token` is not a string.
   */
  verify(token: string): Promise<VerifiedToken>;
  /** The trusted issuers' `iss` values. */
  readonly issuers: readonly string[];
}

/** Tokens longer than this are refused unparsed (real ones are 1-4 KiB). */
const MAX_TOKEN_LENGTH = 16 * 1024;
const MAX_TOLERANCE_SEC = 300;
/** After a failed discovery, fail fast for this long instead of hammering the issuer. */
const DISCOVERY_RETRY_MS = 10_000;

interface IssuerState {
  readonly cfg: CheckedIssuer;
  readonly algorithms: ReadonlySet<string>;
  keys: JWTVerifyGetKey | undefined;
  pending: Promise<JWTVerifyGetKey> | undefined;
  failure: { at: number; error: TokenError } | undefined;
}

/**
 * Creates a verifier for the given issuers.
 * @throws {TypeError|RangeError} when an issuer entry or option is invalid.
 */
export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  const tolerance = options.clockToleranceSec ?? 60;
  if (!Number.isFinite(tolerance) || tolerance < 0 || tolerance > MAX_TOLERANCE_SEC) {
    throw new RangeError(`clockToleranceSec must be from 0 to ${MAX_TOLERANCE_SEC}`);
  }
  const now = options.now ?? Date.now;
  const cacheSize = options.cacheSize ?? 10_000;
  const cache = cacheSize > 0 ? new VerifiedTokenCache(cacheSize) : undefined;
  const cooldownDuration = options.jwksCooldownMs ?? 30_000;
  const cacheMaxAge = options.jwksMaxAgeMs ?? 600_000;
  const timeoutMs = options.fetchTimeoutMs ?? 5_000;

  if (!Array.isArray(options.issuers)) throw new TypeError('issuers must be an array');
  const states = new Map<string, IssuerState>();
  options.issuers.forEach((raw, i) => {
    const cfg = checkTrustedIssuer(raw, `issuers[${i}]`);
    if (states.has(cfg.issuer)) throw new RangeError(`issuers[${i}]: issuer ${cfg.issuer} is listed twice`);
    states.set(cfg.issuer, { cfg, algorithms: new Set(cfg.algorithms), keys: undefined, pending: undefined, failure: undefined });
  });

  function remote(url: string): JWTVerifyGetKey {
    const set = createRemoteJWKSet(new URL(url), { cooldownDuration, cacheMaxAge, timeoutDuration: timeoutMs });
    return async (header, token) => {
      try {
        return await set(header, token);
      } catch (e) {
        if (e instanceof joseErrors.JWKSNoMatchingKey || e instanceof joseErrors.JWKSMultipleMatchingKeys || e instanceof joseErrors.JOSENotSupported) {
          throw e;
        }
        // Network failure, timeout, non-200, not a JWKS: the issuer is unreachable, not the token bad.
        throw new TokenError('issuer_unavailable', `The JWKS of this issuer could not be fetched (${(e as Error).name}).`, { cause: e });
      }
    };
  }

  async function keysOf(state: IssuerState): Promise<JWTVerifyGetKey> {
    if (state.keys) return state.keys;
    const { cfg } = state;
    if (cfg.jwks) return (state.keys = createLocalJWKSet(cfg.jwks));
    if (cfg.jwksUri) return (state.keys = remote(cfg.jwksUri));
    if (state.failure && now() - state.failure.at < DISCOVERY_RETRY_MS) throw state.failure.error;
    state.pending ??= discoverJwksUri({ issuer: cfg.issuer, timeoutMs })
      .then((uri) => {
        state.failure = undefined;
        return (state.keys = remote(uri));
      })
      .catch((e: unknown) => {
        const error = e instanceof TokenError ? e : new TokenError('issuer_unavailable', `The issuer ${cfg.issuer} could not be reached.`, { cause: e });
        state.failure = { at: now(), error };
        throw error;
      })
      .finally(() => {
        state.pending = undefined;
      });
    return state.pending;
  }

  async function verifyWith(token: string, state: IssuerState, nowMs: number): Promise<VerifiedToken> {
    const { cfg } = state;
    const verifyOptions: JWTVerifyOptions = {
      issuer: cfg.issuer,
      audience: [...cfg.audiences],
      algorithms: [...cfg.algorithms],
      clockTolerance: tolerance,
      currentDate: new Date(nowMs),
      requiredClaims: ['exp', 'sub'],
    };
    const keys = await keysOf(state);
    let payload: JWTPayload;
    try {
      payload = (await jwtVerify(token, keys, verifyOptions)).payload;
    } catch (e) {
      if (!(e instanceof joseErrors.JWKSMultipleMatchingKeys)) throw e;
      // No kid and several keys of the right type: the signature decides which one.
      let verified: JWTPayload | undefined;
      for await (const key of e as unknown as AsyncIterable<CryptoKey>) {
        try {
          verified = (await jwtVerify(token, key, verifyOptions)).payload;
          break;
        } catch (inner) {
          if (!(inner instanceof joseErrors.JWSSignatureVerificationFailed)) throw inner;
        }
      }
      if (!verified) throw new joseErrors.JWSSignatureVerificationFailed();
      payload = verified;
    }
    const nowSec = Math.floor(nowMs / 1000);
    // jose checks iat only against a maximum age; a token issued in the future is refused here.
    if (typeof payload.iat === 'number' && payload.iat > nowSec + tolerance) {
      throw new TokenError('token_not_yet_valid', 'The token was issued in the future ("iat" check failed).');
    }
    if (typeof payload.sub !== 'string' || payload.sub.length === 0) throw new TokenError('malformed_token', 'The token has no subject.');
    if (cfg.tokenUse !== undefined && payload.token_use !== cfg.tokenUse) {
      throw new TokenError('wrong_token_use', `This token is not for this service (token_use must be "${cfg.tokenUse}").`);
    }
    const tokenAud = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
    const aud = cfg.audiences.find((a) => tokenAud.includes(a))!;
    const claims = Object.freeze({ ...payload });
    const email = typeof payload.email === 'string' && payload.email_verified !== false && payload.email_verified !== 'false' ? payload.email : undefined;
    return Object.freeze({
      issuer: cfg.issuer,
      sub: payload.sub,
      aud,
      ...(email !== undefined ? { email } : {}),
      exp: payload.exp!,
      claims,
    });
  }

  return {
    issuers: Object.freeze([...states.keys()]),
    async verify(token: string): Promise<VerifiedToken> {
      if (typeof token !== 'string') throw new TypeError('token must be a string');
      const nowMs = now();
      const hit = cache?.get(token, nowMs);
      if (hit) return hit;
      if (token.length === 0 || token.length > MAX_TOKEN_LENGTH) throw new TokenError('malformed_token', `The token is not a JWT (length ${token.length}).`);

      let alg: unknown;
      let iss: unknown;
      try {
        if (token.split('.').length !== 3) throw new Error('not a compact JWS');
        alg = decodeProtectedHeader(token).alg;
        iss = decodeJwt(token).iss;
      } catch {
        throw new TokenError('malformed_token', 'The token is not a well-formed JWT.');
      }
      if (typeof iss !== 'string') throw new TokenError('malformed_token', 'The token has no "iss" claim.');
      const state = states.get(iss);
      if (!state) throw new TokenError('untrusted_issuer', `Tokens from issuer ${iss.slice(0, 200)} are not trusted here.`);
      if (typeof alg !== 'string' || !state.algorithms.has(alg)) {
        throw new TokenError('alg_not_allowed', `Algorithm ${String(alg).slice(0, 16)} is not allowed for issuer ${state.cfg.issuer}.`);
      }

      let result: VerifiedToken;
      try {
        result = await verifyWith(token, state, nowMs);
      } catch (e) {
        throw toTokenError(e, state.cfg.issuer);
      }
      cache?.set(token, result);
      return result;
    },
  };
}

/** Maps jose's errors to our stable codes; anything unrecognised is a bug and is rethrown as is. */
function toTokenError(e: unknown, issuer: string): unknown {
  if (e instanceof TokenError) return e;
  if (e instanceof joseErrors.JWTExpired) return new TokenError('token_expired', 'The token has expired.');
  if (e instanceof joseErrors.JWTClaimValidationFailed) {
    switch (e.claim) {
      case 'nbf':
        return new TokenError('token_not_yet_valid', 'The token is not valid yet ("nbf" check failed).');
      case 'aud':
        return new TokenError('wrong_audience', `The token is not for an audience accepted for issuer ${issuer}.`);
      case 'iss':
        return new TokenError('untrusted_issuer', 'The token names an untrusted issuer.');
      default:
        return new TokenError('malformed_token', `The token's "${e.claim.slice(0, 16)}" claim is missing or invalid.`);
    }
  }
  if (e instanceof joseErrors.JOSEAlgNotAllowed || e instanceof joseErrors.JOSENotSupported) {
    return new TokenError('alg_not_allowed', `The token's algorithm is not allowed for issuer ${issuer}.`);
  }
  if (e instanceof joseErrors.JWSSignatureVerificationFailed) return new TokenError('bad_signature', 'The token signature does not verify.');
  if (e instanceof joseErrors.JWKSNoMatchingKey) return new TokenError('unknown_key', `No key of issuer ${issuer} matches the token's key id.`);
  if (e instanceof joseErrors.JWSInvalid || e instanceof joseErrors.JWTInvalid) return new TokenError('malformed_token', 'The token is not a well-formed JWT.');
  if (e instanceof joseErrors.JWKSInvalid || e instanceof joseErrors.JWKInvalid) {
    return new TokenError('issuer_unavailable', `The JWKS of issuer ${issuer} is not usable.`);
  }
  // A key of the wrong type or size for the algorithm (e.g. RSA under 2048 bits) is jose's TypeError.
  if (e instanceof TypeError) return new TokenError('bad_signature', "The token cannot be verified with the issuer's key.");
  return e;
}
