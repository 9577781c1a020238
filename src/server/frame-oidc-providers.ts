/**
 * The wallet frame's external login providers (SYMBOLON_FRAME_OIDC_PROVIDERS,
 * a JSON array of `{ id, name, issuer, clientId, scope? }`; docs/frame.md).
 * The frame logs in with each one as an OAuth 2.0 public client (authorization
 * code + PKCE S256, RFC 6749 / RFC 7636) in a popup, and uses the provider's
 * ID token, whose `aud` is the clientId, as the user's token. So every
 * provider must also be a trusted issuer (SYMBOLON_OIDC_ISSUERS /
 * _FILE) whose audiences include its clientId: `checkFrameProvidersTrusted`
 * refuses the configuration otherwise, at startup.
 *
 * The provider's endpoints come from its discovery document (OpenID Connect
 * Discovery 1.0 §4), read here on the server, so that the frame page's CSP
 * can name the token endpoint's origin in `connect-src`.
 */
import { checkFetchUrl, discoveryUrl, type CheckedIssuer } from '../identity/trusted-issuer.js';

export interface FrameOidcProvider {
  /** [a-z0-9-]{1,32}, unique: names the provider in the frame. */
  readonly id: string;
  /** What the login button says ("Continue with <name>"). */
  readonly name: string;
  /** Exactly the ID token's `iss`. */
  readonly issuer: string;
  /** The frame's client id at the provider: the ID token's `aud`. */
  readonly clientId: string;
  /** Space-separated scopes; must include `openid`. Default `openid email`. */
  readonly scope: string;
}

/** What the frame gets in config.json: the provider and its discovered endpoints. */
export interface ResolvedFrameProvider extends FrameOidcProvider {
  readonly authorizationEndpoint: string;
  readonly tokenEndpoint: string;
}

const FIELDS = ['id', 'name', 'issuer', 'clientId', 'scope'];
const VAR = 'SYMBOLON_FRAME_OIDC_PROVIDERS';

/**
 * Parses SYMBOLON_FRAME_OIDC_PROVIDERS.
 * @throws {RangeError} naming the entry and the field when the value is not acceptable.
 */
export function parseFrameOidcProviders(json: string | undefined): FrameOidcProvider[] {
  if (json === undefined || json.trim() === '') return [];
  let list: unknown;
  try {
    list = JSON.parse(json);
  } catch {
    throw new RangeError(`${VAR} is not valid JSON`);
  }
  if (!Array.isArray(list)) throw new RangeError(`${VAR} must be a JSON array of { id, name, issuer, clientId, scope? }`);
  if (list.length > 16) throw new RangeError(`${VAR} lists more than 16 providers`);
  const out = list.map((entry: unknown, i): FrameOidcProvider => {
    const where = `${VAR}[${i}]`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw new RangeError(`${where} must be an object`);
    const o = entry as Record<string, unknown>;
    for (const k of Object.keys(o)) if (!FIELDS.includes(k)) throw new RangeError(`${where}: unknown field ${k.slice(0, 32)}`);
    if (typeof o.id !== 'string' || !/^[a-z0-9-]{1,32}$/.test(o.id)) throw new RangeError(`${where}.id must be 1 to 32 of a-z, 0-9 and -`);
    if (typeof o.name !== 'string' || o.name.trim() === '' || o.name.length > 64)
      throw new RangeError(`${where}.name must be a non-empty string of at most 64 characters`);
    if (typeof o.issuer !== 'string' || o.issuer.length > 512) throw new RangeError(`${where}.issuer must be a URL string`);
    try {
      checkFetchUrl(o.issuer, `${where}.issuer`);
    } catch (e) {
      throw new RangeError((e as Error).message);
    }
    if (typeof o.clientId !== 'string' || o.clientId === '' || o.clientId.length > 256 || /\s/.test(o.clientId))
      throw new RangeError(`${where}.clientId must be a non-empty string without spaces`);
    const scope = o.scope === undefined ? 'openid email' : o.scope;
    if (
      typeof scope !== 'string' ||
      scope.length > 512 ||
      !/^[\x21\x23-\x5b\x5d-\x7e]+( [\x21\x23-\x5b\x5d-\x7e]+)*$/.test(scope) ||
      !scope.split(' ').includes('openid')
    ) {
      throw new RangeError(`${where}.scope must be space-separated scopes including openid`);
    }
    return Object.freeze({ id: o.id, name: o.name.trim(), issuer: o.issuer, clientId: o.clientId, scope });
  });
  const ids = new Set<string>();
  for (const p of out) {
    if (ids.has(p.id)) throw new RangeError(`${VAR}: id ${p.id} is used twice`);
    ids.add(p.id);
  }
  return out;
}

/**
 * Each frame provider must be a trusted issuer that accepts its clientId as
 * an audience: the frame presents the provider's ID token (aud = clientId) to
 * the wallet service and to STS, which verify it against that list. A provider
 * missing from it would let the user finish the provider's login only to be
 * refused with untrusted_issuer or wrong_audience; this says so at startup.
 * @throws {RangeError} naming the provider and what to add.
 */
export function checkFrameProvidersTrusted(providers: readonly FrameOidcProvider[], trusted: readonly CheckedIssuer[]): void {
  for (const p of providers) {
    const issuer = trusted.find((t) => t.issuer === p.issuer);
    if (!issuer) {
      throw new RangeError(
        `${VAR}: provider ${p.id} (issuer ${p.issuer}) is not a trusted issuer. Add {"issuer": "${p.issuer}", "audiences": ["${p.clientId}"]} to SYMBOLON_OIDC_ISSUERS (or SYMBOLON_OIDC_ISSUERS_FILE)`,
      );
    }
    if (!issuer.audiences.includes(p.clientId)) {
      throw new RangeError(
        `${VAR}: provider ${p.id}: the trusted issuer ${p.issuer} does not accept the audience ${p.clientId}; add "${p.clientId}" to its "audiences" (the frame uses the provider's ID token, whose aud is the clientId)`,
      );
    }
  }
}

/** Largest discovery document read; real ones are a few KiB. */
const MAX_DOCUMENT_BYTES = 256 * 1024;

/**
 * Reads a provider's discovery document: its `issuer` must be exactly the
 * configured one (§4.3), and it must name https (or loopback http)
 * authorization and token endpoints and, if it lists PKCE methods, S256.
 * @throws {Error} with a message naming the provider (no secrets: the document is public).
 */
export async function discoverFrameProvider(p: FrameOidcProvider, options: { timeoutMs: number; fetch?: typeof fetch }): Promise<ResolvedFrameProvider> {
  const url = discoveryUrl(p.issuer);
  let doc: unknown;
  try {
    const res = await (options.fetch ?? fetch)(url, {
      redirect: 'manual',
      headers: { accept: 'application/json' },
      signal: AbortSignal.timeout(options.timeoutMs),
    });
    if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
    const text = await res.text();
    if (text.length > MAX_DOCUMENT_BYTES) throw new Error('document too large');
    doc = JSON.parse(text);
  } catch (e) {
    throw new Error(`the discovery document of login provider ${p.id} (${url}) could not be read: ${(e as Error).message.slice(0, 80)}`);
  }
  const d = (typeof doc === 'object' && doc !== null ? doc : {}) as Record<string, unknown>;
  if (d.issuer !== p.issuer) throw new Error(`the discovery document of login provider ${p.id} names another issuer; refusing it (OIDC Discovery §4.3)`);
  const methods = d.code_challenge_methods_supported;
  if (Array.isArray(methods) && !methods.includes('S256')) throw new Error(`login provider ${p.id} does not support PKCE with S256`);
  const endpoint = (name: string): string => {
    const v = d[name];
    if (typeof v !== 'string') throw new Error(`the discovery document of login provider ${p.id} has no ${name}`);
    try {
      return checkFetchUrl(v, `${p.id} ${name}`).href;
    } catch (e) {
      throw new Error((e as Error).message);
    }
  };
  return Object.freeze({ ...p, authorizationEndpoint: endpoint('authorization_endpoint'), tokenEndpoint: endpoint('token_endpoint') });
}

/**
 * The providers with their endpoints, discovered on first use and kept for
 * `ttlMs`; a provider whose discovery fails is left out (and tried again
 * after `retryMs`) rather than failing the whole frame: the email login and
 * the other providers still work.
 */
export function frameProviderDirectory(options: {
  providers: readonly FrameOidcProvider[];
  onError: (provider: FrameOidcProvider, e: Error) => void;
  timeoutMs?: number;
  ttlMs?: number;
  retryMs?: number;
  now?: () => number;
}): () => Promise<ResolvedFrameProvider[]> {
  const { providers, onError } = options;
  const now = options.now ?? Date.now;
  const entries = providers.map((p) => ({
    p,
    resolved: undefined as ResolvedFrameProvider | undefined,
    until: 0,
    pending: undefined as Promise<void> | undefined,
  }));
  const refresh = (e: (typeof entries)[number]): Promise<void> =>
    (e.pending ??= discoverFrameProvider(e.p, { timeoutMs: options.timeoutMs ?? 5000 })
      .then(
        (r) => {
          e.resolved = r;
          e.until = now() + (options.ttlMs ?? 10 * 60_000);
        },
        (err: Error) => {
          // A stale document still works better than none while the provider is away.
          e.until = now() + (options.retryMs ?? 30_000);
          onError(e.p, err);
        },
      )
      .finally(() => (e.pending = undefined)));
  return async () => {
    await Promise.all(entries.filter((e) => now() >= e.until).map(refresh));
    return entries.flatMap((e) => (e.resolved ? [e.resolved] : []));
  };
}
