/**
 * An external OIDC issuer for tests that need tokens with chosen claims
 * (`sub`, `iat`, `exp`, audience, issuer, signing key): ES256 keys made per
 * run, the public key given to the server inline as the issuer entry's
 * `jwks` (docs/identity.md), so no network is involved.
 */
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey as JoseKey } from 'jose';

export interface StaticIssuer {
  issuer: string;
  /** The entry for SYMBOLON_OIDC_ISSUERS. */
  config: { issuer: string; audiences: string[]; jwks: { keys: object[] }; algorithms: string[] };
  mint(claims: { sub: string; email?: string }, o?: { aud?: string; iss?: string; iat?: number; exp?: number; key?: JoseKey }): Promise<string>;
}

/** A new issuer named `issuer` whose tokens are for `audience`. */
export async function staticIssuer(audience: string, issuer = 'https://idp.example'): Promise<StaticIssuer> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'idp-1', alg: 'ES256', use: 'sig' };
  return {
    issuer,
    config: { issuer, audiences: [audience], jwks: { keys: [jwk] }, algorithms: ['ES256'] },
    mint(claims, o = {}) {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT(claims.email ? { email: claims.email } : {})
        .setProtectedHeader({ alg: 'ES256', kid: 'idp-1', typ: 'JWT' })
        .setIssuer(o.iss ?? issuer)
        .setAudience(o.aud ?? audience)
        .setSubject(claims.sub)
        .setIssuedAt(o.iat ?? now)
        .setExpirationTime(o.exp ?? now + 600)
        .sign(o.key ?? privateKey);
    },
  };
}
