/**
 * Finds an issuer's JWKS location from its OpenID Provider Configuration
 * document (OpenID Connect Discovery 1.0 §4). The document's `issuer` must be
 * exactly the configured one (§4.3), or a document served elsewhere could
 * redirect trust to other keys.
 */
import { checkFetchUrl, discoveryUrl } from './trusted-issuer.js';
import { TokenError } from './errors.js';

/** Largest discovery document we read; real ones are a few KiB. */
const MAX_DOCUMENT_BYTES = 256 * 1024;

/**
 * Fetches the discovery document and returns its `jwks_uri`.
 * @throws {TokenError} `issuer_unavailable` when it cannot be fetched, is not JSON, names another issuer, or has no usable jwks_uri.
 */
export async function discoverJwksUri(options: { issuer: string; timeoutMs: number; fetch?: typeof fetch }): Promise<string> {
  const { issuer, timeoutMs } = options;
  const url = discoveryUrl(issuer);
  const doFetch = options.fetch ?? fetch;
  let doc: unknown;
  try {
    const res = await doFetch(url, {
      method: 'GET',
      // Redirects would let whoever controls the target pick the keys.
      redirect: 'manual',
      headers: { accept: 'application/json' },
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
    const text = await res.text();
    if (text.length > MAX_DOCUMENT_BYTES) throw new Error('document too large');
    doc = JSON.parse(text);
  } catch (e) {
    throw new TokenError('issuer_unavailable', `The discovery document of issuer ${issuer} could not be read (${(e as Error).message.slice(0, 80)}).`, {
      cause: e,
    });
  }
  if (typeof doc !== 'object' || doc === null) throw new TokenError('issuer_unavailable', `The discovery document of issuer ${issuer} is not a JSON object.`);
  const d = doc as { issuer?: unknown; jwks_uri?: unknown };
  if (d.issuer !== issuer)
    throw new TokenError('issuer_unavailable', `The discovery document at ${url} names a different issuer; refusing it (OIDC Discovery §4.3).`);
  if (typeof d.jwks_uri !== 'string') throw new TokenError('issuer_unavailable', `The discovery document of issuer ${issuer} has no jwks_uri.`);
  try {
    return checkFetchUrl(d.jwks_uri, 'jwks_uri').href;
  } catch (e) {
    throw new TokenError('issuer_unavailable', `The jwks_uri of issuer ${issuer} is not acceptable: ${(e as Error).message}`);
  }
}
