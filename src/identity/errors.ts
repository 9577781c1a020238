/**
 * Errors of the identity domain. `TokenError` is what token verification
 * throws: one stable `code` per reason a token is refused, so callers (STS, the
 * wallet API) can map it to their own protocol's error without parsing text.
 * Messages name the issuer or the key id at most, never the token.
 */

/** Why a token was refused. */
export type TokenErrorCode =
  | 'token_expired'
  | 'token_not_yet_valid'
  | 'untrusted_issuer'
  | 'wrong_audience'
  /** The issuer marks its tokens' use (`token_use`) and this one is for another service. */
  | 'wrong_token_use'
  | 'bad_signature'
  | 'alg_not_allowed'
  | 'malformed_token'
  | 'unknown_key'
  /** The issuer's discovery document or JWKS could not be fetched; retrying later may succeed. */
  | 'issuer_unavailable';

/** A token was refused; `code` is stable, the message is for people. */
export class TokenError extends Error {
  override name = 'TokenError';
  constructor(
    readonly code: TokenErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** An error of the built-in issuer's HTTP API: `{error: {code, message}}` with `status`. */
export class IssuerError extends Error {
  override name = 'IssuerError';
  constructor(
    readonly code: string,
    message: string,
    readonly status: number = 400,
    /** Seconds until a retry can succeed (429 only); sent as Retry-After. */
    readonly retryAfterSec?: number,
  ) {
    super(message);
  }
}
