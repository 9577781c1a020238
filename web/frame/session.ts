/**
 * The user's login inside the frame, with the built-in issuer's email
 * one-time code (POST {issuer}/email/start, /email/verify) and rotating refresh
 * tokens (RFC 6749 §6 at {issuer}/token), or with an external OIDC provider
 * (./oidc-login.ts: code + PKCE in a popup; the provider's ID token is the
 * session's token, refreshed only if the provider gave a refresh token, else
 * the session ends when it expires). Tokens live only in this origin's
 * memory and sessionStorage — never a cookie (cookies are shared by every
 * port of a host, so a DApp on the same host would see them) and never
 * localStorage (it outlives the tab). The DApp's origin cannot read either.
 *
 * Passkeys (the built-in issuer only; docs/identity.md "Passkeys"): log in
 * with one alone, add one to the logged-in user, or step up (a passkey
 * assertion that replaces the session's tokens with ones whose `amr` holds
 * `mfa`). The WebAuthn calls are @simplewebauthn/browser's (it converts the
 * server's JSON options to and from navigator.credentials' buffers).
 */
import type { WalletSession } from './wallet-backend.js';
import { startAuthentication, startRegistration } from '@simplewebauthn/browser';
import { loginWithPopup, OidcLoginError, refreshIdToken, type LoginProvider } from './oidc-login.js';

const STORAGE_KEY = 'symbolon.session';
/** Refresh when less than this is left of the access token. */
const REFRESH_MARGIN_MS = 60_000;

interface Stored {
  /** The user as shown: the email address (or, for a provider without one, "<provider> account"). */
  email: string;
  accessToken: string;
  /** The ID token STS and the signer take (the built-in issuer's `token_use: "id"`); for a provider, its one ID token (= accessToken). */
  idToken: string;
  /** Always for the built-in issuer; for a provider, only if it gave one. */
  refreshToken: string | undefined;
  /** ms since the epoch */
  expiresAt: number;
  /** Set when logged in with an external provider (public data: its endpoints and client id), and the token's sub. */
  provider?: LoginProvider;
  sub?: string;
  /** When this device received the ID token (ms since the epoch, its own clock). */
  keptAt?: number;
}

/** The session ended (no login, or the refresh token was refused): log in again. */
export class SessionEndedError extends Error {
  override name = 'SessionEndedError';
}

/** An error the issuer answered with `{ error: { code, message } }`. */
export class IssuerRequestError extends Error {
  override name = 'IssuerRequestError';
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

function isStored(v: unknown): v is Stored {
  const s = v as Partial<Stored> | null;
  if (typeof s?.email !== 'string' || typeof s.accessToken !== 'string' || typeof s.idToken !== 'string' || typeof s.expiresAt !== 'number') return false;
  if (s.provider === undefined) return typeof s.refreshToken === 'string';
  const p = s.provider as Partial<LoginProvider> | null;
  return (
    (s.refreshToken === undefined || typeof s.refreshToken === 'string') &&
    typeof s.sub === 'string' &&
    typeof p?.tokenEndpoint === 'string' &&
    typeof p.clientId === 'string' &&
    typeof p.issuer === 'string'
  );
}

export class Session implements WalletSession {
  readonly #issuer: string;
  #stored: Stored | undefined;
  #refreshing: Promise<string> | undefined;
  readonly #persist: boolean;

  /**
   * @param issuer the built-in issuer's base URL (e.g. https://wallet.example/oidc).
   * @param options.persist false: a login kept in memory only, never read from or written to sessionStorage
   *   (the second login of a link, ./linked-logins.ts, which must not replace the tab's session).
   */
  constructor(issuer: string, options: { persist?: boolean } = {}) {
    this.#issuer = issuer.replace(/\/+$/, '');
    this.#persist = options.persist ?? true;
    if (!this.#persist) return;
    try {
      const raw = sessionStorage.getItem(STORAGE_KEY);
      const parsed: unknown = raw ? JSON.parse(raw) : undefined;
      if (isStored(parsed)) this.#stored = parsed;
    } catch {
      this.#stored = undefined;
    }
  }

  get loggedIn(): boolean {
    return this.#stored !== undefined;
  }

  get email(): string | undefined {
    return this.#stored?.email;
  }

  /** How the current login was made: the ID token's `amr` (empty for a provider that sends none). */
  get authMethods(): string[] {
    const amr = this.#stored ? claimsOf(this.#stored.idToken).amr : undefined;
    return Array.isArray(amr) ? amr.filter((v): v is string => typeof v === 'string') : [];
  }

  /** Who this login is at the custodian: the ID token's `iss` and `sub`; undefined when logged out. */
  get identity(): { issuer: string; subject: string } | undefined {
    if (!this.#stored) return undefined;
    const c = claimsOf(this.#stored.idToken);
    return typeof c.iss === 'string' && typeof c.sub === 'string' ? { issuer: c.iss, subject: c.sub } : undefined;
  }

  /**
   * How long ago this login was made, in seconds: the time since its ID token arrived (this device's clock) plus
   * how old the login was then (`iat` − `auth_time`, as STS reads it: docs/sts.md, "Linked logins"). Measured
   * so, a device clock set wrong does not make a login look older or younger than it is.
   */
  get loginAgeSeconds(): number {
    if (!this.#stored) return Number.POSITIVE_INFINITY;
    const c = claimsOf(this.#stored.idToken);
    const iat = typeof c.iat === 'number' ? c.iat : 0;
    const authTime = typeof c.auth_time === 'number' ? c.auth_time : iat;
    const keptAt = this.#stored.keptAt ?? iat * 1000;
    return Math.max(0, (Date.now() - keptAt) / 1000) + Math.max(0, iat - authTime);
  }

  /** True when the session was logged in with the built-in issuer (passkeys are its feature). */
  get builtin(): boolean {
    return this.#stored !== undefined && this.#stored.provider === undefined;
  }

  /**
   * Logs in with a passkey alone (a discoverable credential picks the user).
   * @throws {IssuerRequestError} refused (unknown passkey, wrong origin, …); the browser's
   *   NotAllowedError when the user cancels.
   */
  async loginWithPasskey(): Promise<void> {
    const start = (await this.#post('/passkey/login/start', {})) as { challenge_id: string; options: never };
    const response = await startAuthentication({ optionsJSON: start.options });
    const tokens = await this.#post('/passkey/login/finish', { challenge_id: start.challenge_id, response });
    const email = claimsOf((tokens as { id_token?: string }).id_token ?? '').email;
    this.#keep(typeof email === 'string' ? email : 'passkey user', tokens);
  }

  /**
   * Adds a passkey to the logged-in user (the issuer wants a login from the last 10 minutes).
   * @throws {IssuerRequestError} fresh_login_required, credential_exists, …; NotAllowedError when cancelled.
   */
  async addPasskey(): Promise<void> {
    const bearer = await this.accessToken();
    const start = (await this.#post('/passkey/register/start', {}, bearer)) as { challenge_id: string; options: never };
    const response = await startRegistration({ optionsJSON: start.options });
    await this.#post('/passkey/register/finish', { challenge_id: start.challenge_id, response }, bearer);
  }

  /** How many passkeys the user has. @throws {IssuerRequestError} refused. */
  async passkeyCount(): Promise<number> {
    return (await this.passkeys()).length;
  }

  /** The user's passkeys, oldest first (GET /oidc/passkeys: public facts only). @throws {IssuerRequestError} refused. */
  async passkeys(): Promise<PasskeySummary[]> {
    const bearer = await this.accessToken();
    const response = await fetch(`${this.#issuer}/passkeys`, { headers: { authorization: `Bearer ${bearer}` }, credentials: 'omit', cache: 'no-store' });
    const json = (await response.json().catch(() => undefined)) as { passkeys?: unknown[] } | undefined;
    if (!response.ok || !Array.isArray(json?.passkeys)) throw new IssuerRequestError(`http_${response.status}`, 'Your passkeys could not be listed.');
    return json.passkeys.map((p) => {
      const o = p as { credential_id?: unknown; created_at?: unknown; last_used_at?: unknown; backed_up?: unknown };
      return {
        credentialId: String(o.credential_id),
        createdAt: Number(o.created_at),
        lastUsedAt: typeof o.last_used_at === 'number' ? o.last_used_at : null,
        backedUp: o.backed_up === true,
      };
    });
  }

  /**
   * Removes one of the user's passkeys (DELETE /oidc/passkeys/:id).
   * @throws {IssuerRequestError} fresh_login_required (step up first), last_login_method, unknown_credential, rate_limited.
   */
  async removePasskey(credentialId: string): Promise<void> {
    const bearer = await this.accessToken();
    const response = await fetch(`${this.#issuer}/passkeys/${encodeURIComponent(credentialId)}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${bearer}` },
      credentials: 'omit',
      cache: 'no-store',
    });
    if (response.ok) return;
    const e = ((await response.json().catch(() => undefined)) as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
    throw new IssuerRequestError(
      typeof e?.code === 'string' ? e.code : `http_${response.status}`,
      typeof e?.message === 'string' ? e.message : `The identity service answered ${response.status}.`,
    );
  }

  /**
   * Step-up: asserts one of the user's passkeys and keeps the new tokens (amr with `mfa`, auth_time now).
   * @throws {IssuerRequestError} no_passkey, refused assertions; NotAllowedError when cancelled.
   */
  async stepUpWithPasskey(): Promise<{ accessToken: string; idToken: string }> {
    const email = this.#stored?.email ?? '';
    const bearer = await this.accessToken();
    const start = (await this.#post('/passkey/step-up/start', {}, bearer)) as { challenge_id: string; options: never };
    const response = await startAuthentication({ optionsJSON: start.options });
    const tokens = await this.#post('/passkey/step-up/finish', { challenge_id: start.challenge_id, response }, bearer);
    this.#keep(email, tokens);
    return { accessToken: this.#stored!.accessToken, idToken: this.#stored!.idToken };
  }

  /**
   * Asks the issuer to send a login code to `email`.
   * @throws {IssuerRequestError} refused (bad address, rate limited).
   */
  async startEmail(email: string): Promise<void> {
    await this.#post('/email/start', { email });
  }

  /**
   * Exchanges the code for tokens and keeps them.
   * @throws {IssuerRequestError} wrong or expired code, too many attempts.
   */
  async verifyEmail(email: string, code: string): Promise<void> {
    const tokens = await this.#post('/email/verify', { email, code });
    this.#keep(email, tokens);
  }

  /**
   * Logs in with an external provider in `popup` (opened by openLoginPopup
   * in the user's click) and keeps its ID token as the session's token.
   * @throws {OidcLoginError} cancelled, declined, or refused (the popup is closed).
   */
  async loginWith(provider: LoginProvider, popup: Window, signal?: AbortSignal): Promise<void> {
    const t = await loginWithPopup(provider, popup, signal);
    this.#keepOidc(provider, t);
  }

  /**
   * A valid access token, refreshed first when it is about to expire. For an
   * external provider this is its ID token; without a refresh token the
   * session ends when it expires.
   * @throws {SessionEndedError} when there is no session or the refresh is refused.
   */
  async accessToken(): Promise<string> {
    return (await this.#current()).accessToken;
  }

  /**
   * A valid ID token (refreshed like the access token): what the frame sends
   * to STS and to the signer. The wallet API refuses the built-in issuer's ID
   * token, and STS and the signer refuse its access token, so the wallet
   * service never sees a token it could exchange for the user's credentials.
   * @throws {SessionEndedError} when there is no session or the refresh is refused.
   */
  async idToken(): Promise<string> {
    return (await this.#current()).idToken;
  }

  async #current(): Promise<Stored> {
    const s = this.#stored;
    if (!s) throw new SessionEndedError('Not logged in.');
    if (s.expiresAt - Date.now() > REFRESH_MARGIN_MS) return s;
    if (s.provider) {
      this.#refreshing ??= this.#refreshOidc(s).finally(() => (this.#refreshing = undefined));
    } else {
      // One refresh at a time: a rotating refresh token is good for one use.
      this.#refreshing ??= this.#refresh(s).finally(() => (this.#refreshing = undefined));
    }
    await this.#refreshing;
    return this.#stored!;
  }

  logout(): void {
    this.#stored = undefined;
    if (this.#persist) sessionStorage.removeItem(STORAGE_KEY);
  }

  async #refreshOidc(s: Stored): Promise<string> {
    const { provider, refreshToken, sub } = s;
    if (provider && refreshToken && sub) {
      try {
        return this.#keepOidc(provider, await refreshIdToken(provider, refreshToken, sub));
      } catch (e) {
        if (!(e instanceof OidcLoginError) || e.code === 'network_error') throw e;
      }
    }
    this.logout();
    throw new SessionEndedError('The session expired; log in again.');
  }

  #keepOidc(provider: LoginProvider, t: { idToken: string; refreshToken: string | undefined; expiresAt: number; label: string; sub: string }): string {
    this.#stored = {
      email: t.label,
      accessToken: t.idToken,
      idToken: t.idToken,
      refreshToken: t.refreshToken,
      expiresAt: t.expiresAt,
      provider,
      sub: t.sub,
      keptAt: Date.now(),
    };
    if (this.#persist) sessionStorage.setItem(STORAGE_KEY, JSON.stringify(this.#stored));
    return t.idToken;
  }

  async #refresh(s: Stored): Promise<string> {
    try {
      const tokens = await this.#post('/token', { grant_type: 'refresh_token', refresh_token: s.refreshToken ?? '' });
      return this.#keep(s.email, tokens);
    } catch (e) {
      if (e instanceof IssuerRequestError) {
        this.logout();
        throw new SessionEndedError('The session expired; log in again.');
      }
      throw e;
    }
  }

  #keep(email: string, tokens: unknown): string {
    const t = tokens as { access_token?: unknown; id_token?: unknown; refresh_token?: unknown; expires_in?: unknown };
    if (typeof t.access_token !== 'string' || typeof t.id_token !== 'string' || typeof t.refresh_token !== 'string' || typeof t.expires_in !== 'number') {
      throw new IssuerRequestError('invalid_response', 'The identity service answered without tokens.');
    }
    this.#stored = {
      email,
      accessToken: t.access_token,
      idToken: t.id_token,
      refreshToken: t.refresh_token,
      expiresAt: Date.now() + t.expires_in * 1000,
      keptAt: Date.now(),
    };
    if (this.#persist) sessionStorage.setItem(STORAGE_KEY, JSON.stringify(this.#stored));
    return t.access_token;
  }

  async #post(path: string, body: Record<string, unknown>, bearer?: string): Promise<unknown> {
    const response = await fetch(this.#issuer + path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) },
      body: JSON.stringify(body),
      credentials: 'omit',
      cache: 'no-store',
    });
    const json: unknown = await response.json().catch(() => undefined);
    if (!response.ok) {
      const e = (json as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
      throw new IssuerRequestError(
        typeof e?.code === 'string' ? e.code : `http_${response.status}`,
        typeof e?.message === 'string' ? e.message : `The identity service answered ${response.status}.`,
      );
    }
    return json;
  }
}

/** One of the user's passkeys as the home page lists it. */
export interface PasskeySummary {
  credentialId: string;
  createdAt: number;
  lastUsedAt: number | null;
  backedUp: boolean;
}

/** A JWT's claims, unverified: only for showing and choosing (the services verify tokens). */
function claimsOf(jwt: string): Record<string, unknown> {
  try {
    const part = jwt.split('.')[1] ?? '';
    const v: unknown = JSON.parse(atob(part.replace(/-/g, '+').replace(/_/g, '/')));
    return v && typeof v === 'object' ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}
