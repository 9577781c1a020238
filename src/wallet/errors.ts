/**
 * The wallet API's one catalogue of errors. Every error leaves the server as
 * `{ "error": { "code", "message" } }` with the catalogue's HTTP status; the
 * code is stable (clients branch on it), the message is for people and names
 * fields, ids and lengths at most — never a token, a ciphertext or a stack.
 */

/** Every code the wallet API returns, with its HTTP status. */
export const WALLET_ERRORS = {
  /** No bearer token, or not a bearer token. */
  unauthorized: 401,
  /** The token was valid once; get a new one. */
  token_expired: 401,
  token_not_yet_valid: 401,
  /** The token's issuer is not one this server trusts. */
  untrusted_issuer: 401,
  /** The token was issued for another audience (client). */
  wrong_audience: 401,
  /** Bad signature, unknown key, disallowed algorithm, or not a JWT. */
  invalid_token: 401,
  /** The body, a field or the content type is wrong; nothing was stored. */
  invalid_request: 400,
  /** The custody mode exists but this server does not offer it (yet). */
  unsupported_custody_mode: 400,
  not_found: 404,
  /** The user has a wallet already; one wallet per user. */
  wallet_exists: 409,
  /** The address is another user's wallet; one owner per address. */
  address_taken: 409,
  /** A share rotation lost the compare-and-set: the wallet's shares are at another generation. */
  generation_conflict: 409,
  /** The login was unlinked from the user whose wallet it created; it is another user's login now. */
  login_moved: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  /** The key custodian did not answer or refused the wallet service; retry later. */
  custodian_unavailable: 503,
  /** The wallet store (its database) did not answer in time or dropped the connection; retry later. */
  store_unavailable: 503,
  /** The token's issuer (its JWKS) could not be reached; retry later. */
  issuer_unavailable: 503,
  internal_error: 500,
} as const;

export type WalletErrorCode = keyof typeof WALLET_ERRORS;

export const WALLET_ERROR_CODES = Object.keys(WALLET_ERRORS) as WalletErrorCode[];

/** An error the wallet API answers with; `status` comes from the catalogue. */
export class WalletError extends Error {
  override name = 'WalletError';
  readonly status: number;
  constructor(
    readonly code: WalletErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.status = WALLET_ERRORS[code];
  }

  /** The response body. */
  toBody(): { error: { code: WalletErrorCode; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }
}

/** The identity module's token refusal codes mapped to the wallet API's. */
const TOKEN_CODES: ReadonlyMap<string, WalletErrorCode> = new Map<string, WalletErrorCode>([
  ['token_expired', 'token_expired'],
  ['token_not_yet_valid', 'token_not_yet_valid'],
  ['untrusted_issuer', 'untrusted_issuer'],
  ['wrong_audience', 'wrong_audience'],
  // The built-in issuer's ID token (for STS and the signer) is not for this API.
  ['wrong_token_use', 'wrong_audience'],
  ['bad_signature', 'invalid_token'],
  ['alg_not_allowed', 'invalid_token'],
  ['malformed_token', 'invalid_token'],
  ['unknown_key', 'invalid_token'],
  ['issuer_unavailable', 'issuer_unavailable'],
]);

const TOKEN_MESSAGES: Readonly<Record<string, string>> = {
  token_expired: 'The access token has expired.',
  token_not_yet_valid: 'The access token is not valid yet.',
  untrusted_issuer: 'The access token was not issued by a trusted issuer.',
  wrong_audience: 'The access token was not issued for this service.',
  invalid_token: 'The access token is not valid.',
  issuer_unavailable: "The access token's issuer could not be reached; try again later.",
};

/**
 * Maps a token verifier's refusal (`TokenError` of src/identity, recognised by
 * its `name` and `code`) to the wallet API's error; anything else is not a
 * refusal but a fault, and is returned as undefined for the caller to rethrow.
 */
export function walletErrorFromTokenError(e: unknown): WalletError | undefined {
  if (!(e instanceof Error) || e.name !== 'TokenError') return undefined;
  const code = TOKEN_CODES.get(String((e as { code?: unknown }).code));
  if (!code) return undefined;
  return new WalletError(code, TOKEN_MESSAGES[code] ?? 'The access token is not valid.', { cause: e });
}

/** 400 invalid_request naming the field. */
export function invalidRequest(message: string): WalletError {
  return new WalletError('invalid_request', message);
}
