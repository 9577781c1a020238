/**
 * Login with Symbolon's built-in OIDC issuer (docs/identity.md): an email
 * one-time code (`POST {issuer}/email/start`, `POST {issuer}/email/verify`)
 * gives short-lived access and ID tokens and a rotating refresh token
 * (`POST {issuer}/token`). The result is an OidcSession whose `token()` is
 * always fresh. Any other OIDC provider works too: hand its token to
 * EnvelopeWalletClient directly.
 */
import { httpJson } from './httpJson.js';
import { tokenSubject } from './tokenSubject.js';

/** The issuer's token response (RFC 6749 §5.1, with OIDC's id_token). */
export interface TokenResponse {
  access_token: string;
  id_token: string;
  refresh_token: string;
  token_type: 'Bearer';
  expires_in: number;
}

/** Refresh this long before the access token expires. */
const REFRESH_MARGIN_MS = 60_000;

/** A logged-in user: fresh tokens on demand, refreshed with the rotating refresh token. */
export class OidcSession {
  readonly issuerUrl: string;
  readonly #fetch: typeof fetch;
  readonly #now: () => number;
  #tokens: TokenResponse;
  #expiresAt: number;
  #refreshing: Promise<void> | undefined;

  constructor(options: { issuerUrl: string; tokens: TokenResponse; fetch?: typeof fetch; now?: () => number }) {
    this.issuerUrl = options.issuerUrl.replace(/\/+$/, '');
    this.#fetch = options.fetch ?? fetch;
    this.#now = options.now ?? Date.now;
    this.#tokens = options.tokens;
    this.#expiresAt = this.#now() + options.tokens.expires_in * 1000;
  }

  /** The user's subject at this issuer. */
  get sub(): string {
    return tokenSubject(this.#tokens.access_token).sub;
  }

  /**
   * An access token valid for at least a minute (refreshing it when needed).
   * @throws {WalletApiError} invalid_grant when the refresh token was revoked or reused.
   */
  async token(): Promise<string> {
    return (await this.#fresh()).access_token;
  }

  /**
   * An ID token valid for at least a minute (refreshing when needed): what the
   * device sends to the custodian's STS and to the signer. The built-in
   * issuer marks it `token_use: "id"`; the wallet API refuses it, and STS and
   * the signer refuse the access token, so neither service can use the token
   * the other one sees.
   * @throws {WalletApiError} invalid_grant when the refresh token was revoked or reused.
   */
  async idToken(): Promise<string> {
    return (await this.#fresh()).id_token;
  }

  /** The tokens, refreshed first when less than a minute is left. */
  async #fresh(): Promise<TokenResponse> {
    if (this.#now() > this.#expiresAt - REFRESH_MARGIN_MS) await this.refresh();
    return this.#tokens;
  }

  /**
   * Rotates the refresh token now (one request at a time: a rotated token must never be sent twice).
   * @throws {WalletApiError} invalid_grant when the refresh token was revoked or reused.
   */
  async refresh(): Promise<void> {
    this.#refreshing ??= (async () => {
      try {
        const { body } = await httpJson<TokenResponse>(this.#fetch, `${this.issuerUrl}/token`, {
          method: 'POST',
          body: { grant_type: 'refresh_token', refresh_token: this.#tokens.refresh_token },
        });
        this.#tokens = body;
        this.#expiresAt = this.#now() + body.expires_in * 1000;
      } finally {
        this.#refreshing = undefined;
      }
    })();
    return this.#refreshing;
  }
}

/**
 * Asks the issuer to send a one-time code to `email`.
 * @throws {WalletApiError} with the issuer's code (rate_limited, invalid_request, …).
 */
export async function startEmailLogin(options: { issuerUrl: string; email: string; fetch?: typeof fetch }): Promise<{ expiresIn: number }> {
  const { body } = await httpJson<{ expires_in: number }>(options.fetch ?? fetch, `${options.issuerUrl.replace(/\/+$/, '')}/email/start`, {
    method: 'POST',
    body: { email: options.email },
  });
  return { expiresIn: body.expires_in };
}

/**
 * Exchanges the code for tokens.
 * @throws {WalletApiError} with the issuer's code (invalid_code, no_active_code, …).
 */
export async function verifyEmailCode(options: {
  issuerUrl: string;
  email: string;
  code: string;
  fetch?: typeof fetch;
  now?: () => number;
}): Promise<OidcSession> {
  const doFetch = options.fetch ?? fetch;
  const { body } = await httpJson<TokenResponse>(doFetch, `${options.issuerUrl.replace(/\/+$/, '')}/email/verify`, {
    method: 'POST',
    body: { email: options.email, code: options.code },
  });
  return new OidcSession({ issuerUrl: options.issuerUrl, tokens: body, fetch: doFetch, ...(options.now ? { now: options.now } : {}) });
}
