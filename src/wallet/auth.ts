/**
 * Authenticates a wallet API request by its OAuth 2.0 bearer token (RFC 6750
 * §2.1: `Authorization: Bearer <token>`), verified by the identity module's
 * token verifier (OIDC/JWKS; any trusted issuer, none special). The verifier
 * is a dependency, so the API trusts exactly the issuers it was given.
 */
import { WalletError, walletErrorFromTokenError } from './errors.js';

/** What the wallet service needs to know of a verified access token. */
export interface VerifiedIdentity {
  readonly issuer: string;
  readonly sub: string;
  /** Present only when the issuer asserts it (and does not mark it unverified). */
  readonly email?: string;
  /** Expiry, seconds since the epoch. */
  readonly exp: number;
}

/** The identity module's verifier (src/identity/token-verifier.ts), or any object of the same shape. */
export interface AccessTokenVerifier {
  /**
   * @throws {Error} a `TokenError` (name `TokenError`, stable `code`) when the token is refused.
   */
  verify(token: string): Promise<VerifiedIdentity>;
}

/** RFC 6750 §2.1 b64token. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
const MAX_HEADER_LENGTH = 16 * 1024;

/**
 * Reads the bearer token from an Authorization header.
 * @throws {WalletError} unauthorized when there is no bearer token.
 */
export function bearerToken(header: string | string[] | undefined): string {
  if (typeof header !== 'string' || header.length === 0)
    throw new WalletError('unauthorized', 'An access token is required: send Authorization: Bearer <token>.');
  if (header.length > MAX_HEADER_LENGTH) throw new WalletError('invalid_token', 'The access token is not valid.');
  const space = header.indexOf(' ');
  // RFC 7235 §2.1: the auth scheme is case-insensitive.
  if (space < 0 || header.slice(0, space).toLowerCase() !== 'bearer') {
    throw new WalletError('unauthorized', 'An access token is required: send Authorization: Bearer <token>.');
  }
  const token = header.slice(space + 1).trim();
  if (!B64TOKEN.test(token)) throw new WalletError('invalid_token', 'The access token is not valid.');
  return token;
}

/**
 * Verifies the request's bearer token.
 * @throws {WalletError} unauthorized, token_expired, token_not_yet_valid, untrusted_issuer,
 *   wrong_audience, invalid_token (401) or issuer_unavailable (503).
 * @throws {Error} whatever else the verifier throws (a fault, not a refusal).
 */
export async function authenticate(verifier: AccessTokenVerifier, header: string | string[] | undefined): Promise<VerifiedIdentity> {
  const token = bearerToken(header);
  try {
    return await verifier.verify(token);
  } catch (e) {
    throw walletErrorFromTokenError(e) ?? e;
  }
}
