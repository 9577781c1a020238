/**
 * Login with an external OpenID Connect provider, from inside the frame: the
 * authorization code flow (RFC 6749 §4.1) as a public client, with PKCE S256
 * (RFC 7636), `state` and `nonce` (OIDC Core §3.1.2.1), in a popup window —
 * providers refuse to be framed, and a popup keeps the DApp's page out of it.
 *
 * 1. On the user's click the frame opens a blank popup (a popup blocker allows
 *    it only within the click), then sends it to the provider's authorization
 *    endpoint.
 * 2. The provider redirects the popup to /frame/oidc-callback.html on the
 *    wallet's origin, which posts `{ state, code }` to `window.opener` with the
 *    wallet's origin as targetOrigin (./oidc-callback.ts) and closes.
 * 3. The frame reads a message only if it comes from that popup
 *    (`event.source`), from its own origin (`event.origin`), and carries this
 *    login's `state`; anything else is ignored. It then exchanges the code,
 *    with the PKCE verifier that never left the frame, at the token endpoint.
 * 4. The ID token (its `aud` is the client id) becomes the session's token.
 *    The frame checks only what is its own business — `iss`, `aud`, `azp`,
 *    `nonce`, `exp`; the wallet service and STS verify the signature and every
 *    claim again against SYMBOLON_OIDC_ISSUERS.
 */
import { parseCallbackMessage, type OidcCallbackMessage } from './oidc-message.js';

/** A provider as config.json gives it (src/server/frame-oidc-providers.ts). */
export interface LoginProvider {
  id: string;
  name: string;
  issuer: string;
  clientId: string;
  scope: string;
  authorizationEndpoint: string;
  tokenEndpoint: string;
}

/** What a finished login gives the session. */
export interface OidcTokens {
  idToken: string;
  refreshToken: string | undefined;
  /** The ID token's exp, in ms since the epoch. */
  expiresAt: number;
  /** The user as shown in the frame: the verified email, else "<provider> account". */
  label: string;
  sub: string;
}

/** The login did not complete; `code` is stable (cancelled, popup_blocked, state_mismatch, the provider's OAuth error, …). */
export class OidcLoginError extends Error {
  override name = 'OidcLoginError';
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

/** How long the frame waits for the user at the provider. */
const LOGIN_TIMEOUT_MS = 10 * 60_000;

function base64url(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function randomString(bytes: number): string {
  return base64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

/** RFC 7636 §4.2: BASE64URL(SHA256(ASCII(code_verifier))). */
export async function pkceChallenge(verifier: string): Promise<string> {
  return base64url(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))));
}

/** The redirect URI registered at every provider: the callback page beside the frame. */
export function redirectUri(): string {
  return new URL('oidc-callback.html', location.href).href;
}

/**
 * Opens the (blank) login window. Call it synchronously in the click handler.
 * @throws {OidcLoginError} popup_blocked.
 */
export function openLoginPopup(): Window {
  const w = 480;
  const h = 640;
  const left = Math.max(0, Math.round(screenX + (outerWidth - w) / 2));
  const top = Math.max(0, Math.round(screenY + (outerHeight - h) / 3));
  // A new window each time ('_blank'): a named one could be a window some other page opened under that name.
  const popup = window.open('about:blank', '_blank', `popup,width=${w},height=${h},left=${left},top=${top}`);
  if (!popup) throw new OidcLoginError('popup_blocked', 'The browser blocked the login window: allow pop-ups for this site and try again.');
  return popup;
}

interface IdClaims {
  iss?: unknown;
  aud?: unknown;
  azp?: unknown;
  nonce?: unknown;
  exp?: unknown;
  sub?: unknown;
  email?: unknown;
  email_verified?: unknown;
}

function decodeJwtPayload(jwt: string): IdClaims {
  const parts = jwt.split('.');
  if (parts.length !== 3) throw new OidcLoginError('invalid_id_token', 'The provider answered with a malformed ID token.');
  try {
    const b64 = parts[1]!.replace(/-/g, '+').replace(/_/g, '/');
    const text = new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)));
    const claims: unknown = JSON.parse(text);
    if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) throw new Error('not an object');
    return claims as IdClaims;
  } catch {
    throw new OidcLoginError('invalid_id_token', 'The provider answered with a malformed ID token.');
  }
}

/**
 * The frame's own checks of an ID token (OIDC Core §3.1.3.7 items 2–4, 9, 11):
 * who issued it, for whom, for this login. Not the signature: the wallet
 * service and STS verify that, with the issuer's keys, before they accept it.
 * @throws {OidcLoginError} invalid_id_token naming the claim.
 */
export function checkIdToken(
  idToken: string,
  expect: { issuer: string; clientId: string; nonce: string | undefined; now: number; sub?: string },
): { exp: number; sub: string; email: string | undefined } {
  const c = decodeJwtPayload(idToken);
  const bad = (claim: string) => new OidcLoginError('invalid_id_token', `The provider's ID token has the wrong ${claim}; the login was refused.`);
  if (c.iss !== expect.issuer) throw bad('issuer');
  const aud = typeof c.aud === 'string' ? [c.aud] : Array.isArray(c.aud) ? c.aud : [];
  if (!aud.includes(expect.clientId)) throw bad('audience');
  if (aud.length > 1 && c.azp !== expect.clientId) throw bad('authorized party');
  if (expect.nonce !== undefined && c.nonce !== expect.nonce) throw bad('nonce');
  if (typeof c.exp !== 'number' || c.exp * 1000 <= expect.now) throw bad('expiry');
  if (typeof c.sub !== 'string' || c.sub === '') throw bad('subject');
  if (expect.sub !== undefined && c.sub !== expect.sub) throw bad('subject');
  const email = typeof c.email === 'string' && c.email_verified !== false && c.email_verified !== 'false' ? c.email : undefined;
  return { exp: c.exp, sub: c.sub, email };
}

/** Waits for the callback page's message from `popup` with this `state`; everything else is ignored. */
function awaitCallback(popup: Window, state: string, signal: AbortSignal | undefined): Promise<OidcCallbackMessage> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const done = (f: () => void) => {
      window.removeEventListener('message', onMessage);
      clearInterval(timer);
      signal?.removeEventListener('abort', onAbort);
      f();
    };
    const onMessage = (event: MessageEvent) => {
      // Only the popup this login opened, only from the wallet's own origin (the callback page), only this login's state.
      if (event.source !== popup || event.origin !== location.origin) return;
      const m = parseCallbackMessage(event.data);
      if (!m || m.state !== state) return;
      done(() => resolve(m));
    };
    const onAbort = () =>
      done(() => {
        popup.close();
        reject(new OidcLoginError('cancelled', 'The login was cancelled.'));
      });
    // A closed popup ends the wait; the callback's message, posted just before it closes, is read first.
    let closedSeen = false;
    const timer = setInterval(() => {
      if (popup.closed) {
        // One more tick: the message the callback posted just before closing may still be queued.
        if (closedSeen) done(() => reject(new OidcLoginError('cancelled', 'The login window was closed before the login finished.')));
        closedSeen = true;
      } else if (Date.now() - started > LOGIN_TIMEOUT_MS) onAbort();
    }, 400);
    window.addEventListener('message', onMessage);
    signal?.addEventListener('abort', onAbort);
  });
}

/**
 * POSTs a form to the provider's token endpoint (RFC 6749 §4.1.3, §6) as a public client.
 * @throws {OidcLoginError} with the provider's OAuth error code, or network_error.
 */
async function tokenRequest(provider: LoginProvider, params: Record<string, string>): Promise<{ id_token?: unknown; refresh_token?: unknown }> {
  let response: Response;
  try {
    response = await fetch(provider.tokenEndpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({ ...params, client_id: provider.clientId }),
      credentials: 'omit',
      cache: 'no-store',
      redirect: 'error',
    });
  } catch {
    throw new OidcLoginError('network_error', `${provider.name} could not be reached.`);
  }
  const json = (await response.json().catch(() => undefined)) as Record<string, unknown> | undefined;
  if (!response.ok || !json) {
    const code = typeof json?.error === 'string' && /^[\x20-\x7e]{1,64}$/.test(json.error) ? json.error : `http_${response.status}`;
    throw new OidcLoginError(code, `${provider.name} refused to issue tokens (${code}).`);
  }
  return json;
}

/**
 * Runs the whole login in `popup` (from openLoginPopup).
 * @throws {OidcLoginError} when the user cancels, the provider refuses, or a check fails; the popup is closed.
 */
export async function loginWithPopup(provider: LoginProvider, popup: Window, signal?: AbortSignal): Promise<OidcTokens> {
  try {
    const verifier = randomString(32);
    const state = randomString(24);
    const nonce = randomString(24);
    const url = new URL(provider.authorizationEndpoint);
    const params = {
      response_type: 'code',
      client_id: provider.clientId,
      redirect_uri: redirectUri(),
      scope: provider.scope,
      state,
      nonce,
      code_challenge: await pkceChallenge(verifier),
      code_challenge_method: 'S256',
    };
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    if (popup.closed) throw new OidcLoginError('cancelled', 'The login window was closed before the login finished.');
    popup.location.replace(url.href);
    const callback = await awaitCallback(popup, state, signal);
    if (callback.error) {
      const code = /^[\x20-\x7e]{1,64}$/.test(callback.error) ? callback.error : 'provider_error';
      throw new OidcLoginError(
        code,
        code === 'access_denied' ? `The login at ${provider.name} was declined.` : `${provider.name} refused the login (${code}).`,
      );
    }
    // RFC 9207: a response that names another issuer is a mix-up; refuse it.
    if (callback.iss !== undefined && callback.iss !== provider.issuer)
      throw new OidcLoginError('issuer_mismatch', `The login response did not come from ${provider.name}.`);
    const tokens = await tokenRequest(provider, {
      grant_type: 'authorization_code',
      code: callback.code!,
      redirect_uri: params.redirect_uri,
      code_verifier: verifier,
    });
    return keepTokens(provider, tokens, { nonce });
  } finally {
    if (!popup.closed) popup.close();
  }
}

function keepTokens(provider: LoginProvider, tokens: { id_token?: unknown; refresh_token?: unknown }, expect: { nonce?: string; sub?: string }): OidcTokens {
  if (typeof tokens.id_token !== 'string')
    throw new OidcLoginError('no_id_token', `${provider.name} answered without an ID token (is the openid scope configured?).`);
  const claims = checkIdToken(tokens.id_token, {
    issuer: provider.issuer,
    clientId: provider.clientId,
    nonce: expect.nonce,
    now: Date.now(),
    ...(expect.sub ? { sub: expect.sub } : {}),
  });
  return {
    idToken: tokens.id_token,
    refreshToken: typeof tokens.refresh_token === 'string' ? tokens.refresh_token : undefined,
    expiresAt: claims.exp * 1000,
    label: claims.email ?? `${provider.name} account`,
    sub: claims.sub,
  };
}

/**
 * Refreshes with a refresh token (RFC 6749 §6); the answer must carry a new ID
 * token for the same user (OIDC Core §12.2).
 * @throws {OidcLoginError} when the provider refuses or gives no ID token.
 */
export async function refreshIdToken(provider: LoginProvider, refreshToken: string, sub: string): Promise<OidcTokens> {
  const tokens = await tokenRequest(provider, { grant_type: 'refresh_token', refresh_token: refreshToken });
  const out = keepTokens(provider, tokens, { sub });
  // Keep the old refresh token when the provider does not rotate it.
  return { ...out, refreshToken: out.refreshToken ?? refreshToken };
}
