/**
 * The signer's attested session: an RSA-2048 key pair generated inside the
 * signer process (node:crypto, the platform CSPRNG), whose public half goes
 * into attestation documents as a DER SubjectPublicKeyInfo, as AWS KMS
 * requires of a `Recipient`. Generating the pair costs about 150 ms, so it is
 * reused for a few minutes (and replaced in the background before it
 * expires); the attestation document is not: each release asks the platform
 * for a fresh document with a fresh 32-byte nonce, because the custodian
 * accepts each document once.
 *
 * The private key never leaves this process and is not exportable from here.
 */
import { generateKeyPair, randomBytes, type KeyObject } from 'node:crypto';
import { asBytes } from '../crypto/bytes.js';

/** Asks the platform (over the launch channel) for a document binding these values. */
export type Attester = (request: { publicKey: Uint8Array; nonce: Uint8Array }) => Promise<Uint8Array>;

interface KeyPair {
  privateKey: KeyObject;
  spki: Uint8Array;
  createdAt: number;
}

export interface Recipient {
  privateKey: KeyObject;
  document: Uint8Array;
}

export const DEFAULT_SESSION_LIFETIME_MS = 4 * 60_000;

function newKeyPair(now: number): Promise<KeyPair> {
  return new Promise((resolve, reject) => {
    generateKeyPair('rsa', { modulusLength: 2048, publicExponent: 0x10001 }, (err, publicKey, privateKey) => {
      if (err) return reject(err);
      resolve({ privateKey, spki: asBytes(publicKey.export({ format: 'der', type: 'spki' })), createdAt: now });
    });
  });
}

export class AttestedSession {
  readonly #attest: Attester;
  readonly #lifetimeMs: number;
  readonly #now: () => number;
  #current: Promise<KeyPair> | undefined;
  #next: Promise<KeyPair> | undefined;

  constructor(options: { attest: Attester; lifetimeMs?: number; now?: () => number }) {
    this.#attest = options.attest;
    this.#lifetimeMs = options.lifetimeMs ?? DEFAULT_SESSION_LIFETIME_MS;
    this.#now = options.now ?? Date.now;
  }

  async #keyPair(): Promise<KeyPair> {
    const now = this.#now();
    this.#current ??= newKeyPair(now);
    let pair: KeyPair;
    try {
      pair = await this.#current;
    } catch (e) {
      // Generation failed: the next request tries again rather than failing forever.
      this.#current = undefined;
      throw e;
    }
    const age = now - pair.createdAt;
    if (age > this.#lifetimeMs) {
      // Expired: wait for the replacement (started earlier, or now).
      this.#next ??= newKeyPair(now);
      this.#current = this.#next;
      this.#next = undefined;
      try {
        pair = await this.#current;
      } catch (e) {
        this.#current = undefined;
        throw e;
      }
    } else if (age > this.#lifetimeMs * 0.75 && !this.#next) {
      // Replace it in the background before it expires.
      const next = newKeyPair(now);
      next.catch(() => undefined);
      this.#next = next;
    }
    return pair;
  }

  /**
   * A recipient for one release: the session's private key and a fresh
   * attestation document (fresh nonce) for its public key.
   * @throws whatever the attester throws (the platform refused or is gone).
   */
  async recipient(): Promise<Recipient> {
    const pair = await this.#keyPair();
    const document = await this.#attest({ publicKey: pair.spki, nonce: new Uint8Array(randomBytes(32)) });
    return { privateKey: pair.privateKey, document };
  }

  /** Starts generating the first key pair (at start-up, off the first request's path). */
  warm(): Promise<void> {
    return this.#keyPair().then(() => undefined);
  }
}
