/**
 * Keyed hashing of everything the issuer must recognise but never store:
 * login codes, refresh tokens, and (for rate limits) emails and IP addresses.
 * HMAC-SHA-256 (RFC 2104) under a 32-byte pepper that is sealed under the root
 * of trust (context `identity/pepper/v1`): the database alone cannot test the
 * million possible codes of a row. Each input is domain-separated by a label.
 */
import { createHmac, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Tables } from '../../storage/tables.js';
import type { RootOfTrust } from '../../root/root-of-trust.js';
import { wipe } from '../../crypto/bytes.js';
import { loadOrCreateSealedSecret } from './sealed-secret.js';

export const PEPPER_META = 'identity/pepper';
export const PEPPER_CONTEXT = 'identity/pepper/v1';

export class IssuerHasher {
  readonly #key: KeyObject;

  private constructor(key: KeyObject) {
    this.#key = key;
  }

  /**
   * Loads the pepper, creating it on first start.
   * @throws {SealedBoxError} when the stored pepper does not open under this root.
   */
  static async load(db: Kysely<Tables>, root: RootOfTrust): Promise<IssuerHasher> {
    const pepper = await loadOrCreateSealedSecret({ db, root, name: PEPPER_META, purpose: PEPPER_CONTEXT, generate: () => new Uint8Array(randomBytes(32)) });
    try {
      // A KeyObject keeps the pepper outside the JS heap; the opened bytes are wiped.
      return new IssuerHasher(createSecretKey(pepper));
    } finally {
      wipe(pepper);
    }
  }

  #mac(label: string, ...parts: string[]): Buffer {
    const h = createHmac('sha256', this.#key);
    h.update(label);
    // Length-prefix each part so ("ab","c") and ("a","bc") differ.
    for (const p of parts) {
      const b = Buffer.from(p, 'utf8');
      const len = Buffer.alloc(4);
      len.writeUInt32BE(b.length);
      h.update(len).update(b);
    }
    return h.digest();
  }

  /** The stored form of a login code, bound to its row. */
  code(codeId: string, code: string): Uint8Array {
    return new Uint8Array(this.#mac('symbolon/identity/code/v1', codeId, code));
  }

  /** The stored form (and primary key) of a refresh token. */
  refreshToken(token: string): string {
    return this.#mac('symbolon/identity/refresh/v1', token).toString('hex');
  }

  /** The lookup key of a normalised email in the codes table. */
  email(email: string): string {
    return this.#mac('symbolon/identity/email/v1', email).toString('hex');
  }

  /** The lookup key of a client IP address (per-IP rate limit). */
  ip(ip: string): string {
    return this.#mac('symbolon/identity/ip/v1', ip).toString('hex');
  }
}
