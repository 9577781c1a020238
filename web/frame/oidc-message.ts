/**
 * The one message the login popup's landing page (./oidc-callback.ts, at
 * /frame/oidc-callback.html on the wallet's origin) sends to the frame that
 * opened it: the authorization response's parameters (RFC 6749 §4.1.2 and
 * §4.1.2.1, plus `iss` of RFC 9207), as read from the redirect URL. Nothing
 * else crosses. The frame reads it only from the popup it opened, from its own
 * origin, and only with the `state` of the login it started.
 */

export const OIDC_CALLBACK_PROTOCOL = 'symbolon-oidc-callback/1';

export interface OidcCallbackMessage {
  protocol: typeof OIDC_CALLBACK_PROTOCOL;
  state: string;
  /** The authorization code, on success. */
  code?: string;
  /** The provider's error code (access_denied, …), on failure. */
  error?: string;
  errorDescription?: string;
  /** RFC 9207: the issuer that sent the response, when the provider says. */
  iss?: string;
}

const MAX = 4096;

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 && v.length <= MAX ? v : undefined;
}

/** The message from the redirect URL's query; undefined when it carries no state. */
export function callbackFromQuery(search: string): OidcCallbackMessage | undefined {
  const q = new URLSearchParams(search);
  const state = str(q.get('state'));
  if (!state) return undefined;
  const m: OidcCallbackMessage = { protocol: OIDC_CALLBACK_PROTOCOL, state };
  const code = str(q.get('code'));
  const error = str(q.get('error'));
  const errorDescription = str(q.get('error_description'));
  const iss = str(q.get('iss'));
  if (code) m.code = code;
  if (error) m.error = error;
  if (errorDescription) m.errorDescription = errorDescription;
  if (iss) m.iss = iss;
  return m;
}

/** Strict parse of a received message; undefined for anything else. */
export function parseCallbackMessage(data: unknown): OidcCallbackMessage | undefined {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return undefined;
  const d = data as Record<string, unknown>;
  if (d.protocol !== OIDC_CALLBACK_PROTOCOL) return undefined;
  for (const k of Object.keys(d)) if (!['protocol', 'state', 'code', 'error', 'errorDescription', 'iss'].includes(k)) return undefined;
  const state = str(d.state);
  if (!state) return undefined;
  const m: OidcCallbackMessage = { protocol: OIDC_CALLBACK_PROTOCOL, state };
  for (const k of ['code', 'error', 'errorDescription', 'iss'] as const) {
    if (d[k] === undefined) continue;
    const v = str(d[k]);
    if (v === undefined) return undefined;
    m[k] = v;
  }
  if ((m.code === undefined) === (m.error === undefined)) return undefined;
  return m;
}
