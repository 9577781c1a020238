/**
 * A real OpenID Provider for the frame's external-login tests: panva's
 * `oidc-provider` (a certified implementation) on its own loopback port, with
 * one public client (token_endpoint_auth_method none, PKCE required, the
 * frame's callback as its only redirect URI, CORS for that origin on the token
 * endpoint), ES256 ID tokens, and the library's development login and consent
 * pages (any login name, any password; the login name becomes `sub`, and
 * `<login>@idp.example` the verified email).
 *
 * Its development pages @import a web font from the internet: tests must block
 * every non-loopback request in the browser (they do, with context.route).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { exportJWK, generateKeyPair } from 'jose';

/** The part of oidc-provider's Provider this helper uses. */
interface OidcProvider {
  on(event: 'grant.success' | 'grant.error', listener: (ctx: { oidc?: { params?: Record<string, unknown> } }) => void): void;
  callback(): (req: IncomingMessage, res: ServerResponse) => void;
}

export interface TestIdp {
  /** http://<host>:<port> — exactly the tokens' iss. */
  issuer: string;
  clientId: string;
  /**
   * Registers the client with its redirect URI and starts answering (the
   * URI is known only once the wallet service listens). Before this, 503.
   */
  start(redirectUri: string): Promise<void>;
  /** Token endpoint requests seen (grant type, code, answered with tokens or not), for the tests to assert on. */
  readonly tokenRequests: { grantType: string; code: string | undefined; ok: boolean }[];
  close(): Promise<void>;
}

/**
 * Listens at once (so the issuer URL is known); answers after start().
 * @param options.host a loopback address; another than the wallet's (e.g. 127.0.0.2) keeps the IdP's cookies apart, as on a real deployment.
 */
export async function startTestIdp(options: { clientId: string; host?: string; idTokenTtlSeconds?: number }): Promise<TestIdp> {
  // Imported here: the library warns on import that Node 20 is not its supported LTS (it runs; see docs/frame.md).
  // (It ships no type declarations: the little used here is typed below.)
  const specifier: string = 'oidc-provider';
  const { default: Provider } = (await import(specifier)) as { default: new (issuer: string, configuration: unknown) => OidcProvider };
  const server: Server = createServer();
  let handler: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  server.on('request', (req, res) => {
    if (handler) return handler(req, res);
    res.writeHead(503).end();
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const issuer = `http://${host}:${(server.address() as AddressInfo).port}`;
  const tokenRequests: { grantType: string; code: string | undefined; ok: boolean }[] = [];
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: 'test-es256', alg: 'ES256', use: 'sig' };
  const start = async (redirectUri: string): Promise<void> => {
    const redirectOrigin = new URL(redirectUri).origin;
    const provider = new Provider(issuer, {
      clients: [
        {
          client_id: options.clientId,
          token_endpoint_auth_method: 'none',
          redirect_uris: [redirectUri],
          response_types: ['code'],
          grant_types: ['authorization_code'],
          id_token_signed_response_alg: 'ES256',
        },
      ],
      jwks: { keys: [jwk] },
      cookies: { keys: [randomBytes(32).toString('hex')] },
      claims: { openid: ['sub'], email: ['email', 'email_verified'] },
      // The email in the ID token itself, as Google's, Auth0's and Cognito's ID tokens carry it.
      conformIdTokenClaims: false,
      findAccount: (_ctx: unknown, sub: string) => ({
        accountId: sub,
        claims: () => ({ sub, email: `${sub}@idp.example`, email_verified: true }),
      }),
      clientBasedCORS: (_ctx: unknown, origin: string) => origin === redirectOrigin,
      pkce: { required: () => true },
      // Every lifetime the flow reaches, given (the library's own defaults but the ID token's):
      // left to its defaults, oidc-provider prints a NOTICE for each.
      ttl: { IdToken: options.idTokenTtlSeconds ?? 3600, AccessToken: 3600, AuthorizationCode: 60, Interaction: 3600, Session: 14 * 86400, Grant: 14 * 86400 },
      features: { devInteractions: { enabled: true } },
    });
    const record = (ok: boolean) => (ctx: { oidc?: { params?: Record<string, unknown> } }) => {
      const params = ctx.oidc?.params ?? {};
      tokenRequests.push({ grantType: String(params.grant_type ?? ''), code: typeof params.code === 'string' ? params.code : undefined, ok });
    };
    provider.on('grant.success', record(true));
    provider.on('grant.error', record(false));
    handler = provider.callback();
  };
  return {
    issuer,
    clientId: options.clientId,
    tokenRequests,
    start,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
