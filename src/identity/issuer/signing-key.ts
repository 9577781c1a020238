/**
 * The built-in issuer's token-signing key: Ed25519 (RFC 8032), used as JWS
 * `EdDSA` (RFC 8037). Generated on first start and stored only sealed under the
 * root of trust (context `identity/issuer-key/v1`). In memory it is a
 * non-extractable WebCrypto key; the PKCS#8 bytes exist only while it is
 * imported and are wiped in `finally`. Its public half is published as a JWK
 * whose `kid` is the RFC 7638 thumbprint.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, webcrypto } from 'node:crypto';
import type { Kysely } from 'kysely';
import { calculateJwkThumbprint, type JWK } from 'jose';
import type { Tables } from '../../storage/tables.js';
import type { RootOfTrust } from '../../root/root-of-trust.js';
import { wipe } from '../../crypto/bytes.js';
import { loadOrCreateSealedSecret } from './sealed-secret.js';

export const ISSUER_KEY_META = 'identity/issuer-key';
export const ISSUER_KEY_CONTEXT = 'identity/issuer-key/v1';

export interface IssuerSigningKey {
  readonly alg: 'EdDSA';
  readonly kid: string;
  /** Non-extractable. */
  readonly privateKey: CryptoKey;
  /** The public JWK as published in jwks.json (kty, crv, x, kid, alg, use). */
  readonly publicJwk: Readonly<JWK>;
}

/**
 * Loads the issuer key, creating it on first start.
 * @throws {SealedBoxError} when the stored key does not open under this root.
 */
export async function loadIssuerSigningKey(db: Kysely<Tables>, root: RootOfTrust): Promise<IssuerSigningKey> {
  const pkcs8 = await loadOrCreateSealedSecret({
    db,
    root,
    name: ISSUER_KEY_META,
    purpose: ISSUER_KEY_CONTEXT,
    generate: () => {
      const { privateKey } = generateKeyPairSync('ed25519');
      const der = privateKey.export({ format: 'der', type: 'pkcs8' });
      const out = new Uint8Array(der);
      der.fill(0);
      return out;
    },
  });
  try {
    const privateKey = await webcrypto.subtle.importKey('pkcs8', pkcs8, { name: 'Ed25519' }, false, ['sign']);
    const pub = createPublicKey(createPrivateKey({ key: Buffer.from(pkcs8.buffer, pkcs8.byteOffset, pkcs8.byteLength), format: 'der', type: 'pkcs8' }));
    const { kty, crv, x } = pub.export({ format: 'jwk' });
    const base = { kty: kty!, crv: crv!, x: x! };
    const kid = await calculateJwkThumbprint(base, 'sha256');
    return Object.freeze({ alg: 'EdDSA', kid, privateKey, publicJwk: Object.freeze({ ...base, kid, alg: 'EdDSA', use: 'sig' }) });
  } finally {
    wipe(pkcs8);
  }
}
