/**
 * The signer's attested session: an RSA-2048 key pair generated inside the
 * signer process (node:crypto, the platform CSPRNG), whose public half goes
 * into attestation documents as a DER SubjectPublicKeyInfo, as AWS KMS
 * requires of a `Recipient`. Generating the pair costs about 150 ms, so it is
 * reused for a few minutes (and replaced in the background before it
 * expires).
 *
 * One attestation document (fresh 32-byte nonce) is obtained per key pair and
 * reused for releases until the refresh interval (default 60 s, inside the
 * custodian's session window, docs/signer.md), then a fresh one is asked for.
 * Concurrent releases share one platform request. With a refresh interval of
 * 0 every release gets its own document (the custodian's single-use mode).
 * When the custodian refuses a reused document (its session ended early, or it
 * accepts each document once), the caller reports it with `refused()` and asks
 * again: the next release gets a fresh document, and after a `replayed`
 * refusal this session stops reusing documents until the key pair changes.
 *
 * The private key never leaves this process and is not exportable from here.
 * It is held twice: as a KeyObject, and as a non-extractable WebCrypto
 * CryptoKey (imported once from a PKCS#8 export that is wiped at once) whose
 * RSA-OAEP decryption runs on libuv's thread pool (openForRecipientAsync).
 */
import { generateKeyPair, randomBytes, webcrypto, type KeyObject } from 'node:crypto';
import { asBytes } from '../crypto/bytes.js';

/** Asks the platform (over the launch channel) for a document binding these values. */
export type Attester = (request: { publicKey: Uint8Array; nonce: Uint8Array; userData?: Uint8Array | undefined }) => Promise<Uint8Array>;

interface KeyPair {
  privateKey: KeyObject;
  /** The same private key as a non-extractable WebCrypto RSA-OAEP (SHA-256) key: its decryption runs on the thread pool. */
  decryptKey: CryptoKey;
  spki: Uint8Array;
  createdAt: number;
}

export interface Recipient {
  privateKey: KeyObject;
  /** `privateKey` for openForRecipientAsync (non-extractable CryptoKey, RSA-OAEP with SHA-256). */
  decryptKey: CryptoKey;
  document: Uint8Array;
  /** The document was handed out before (to this or a concurrent release). */
  reused: boolean;
}

interface SharedDocument {
  pair: KeyPair;
  document: Promise<Uint8Array>;
  createdAt: number;
  uses: number;
}

export const DEFAULT_SESSION_LIFETIME_MS = 4 * 60_000;
export const DEFAULT_ATTESTATION_REFRESH_MS = 60_000;

function newKeyPair(now: number): Promise<KeyPair> {
  return new Promise<{ privateKey: KeyObject; spki: Uint8Array }>((resolve, reject) => {
    generateKeyPair('rsa', { modulusLength: 2048, publicExponent: 0x10001 }, (err, publicKey, privateKey) => {
      if (err) return reject(err);
      resolve({ privateKey, spki: asBytes(publicKey.export({ format: 'der', type: 'spki' })) });
    });
  }).then(async ({ privateKey, spki }) => {
    // Imported once per key pair, non-extractable; the PKCS#8 bytes it was imported from are wiped at once.
    const pkcs8 = privateKey.export({ format: 'der', type: 'pkcs8' });
    try {
      const decryptKey = await webcrypto.subtle.importKey('pkcs8', pkcs8, { name: 'RSA-OAEP', hash: 'SHA-256' }, false, ['decrypt']);
      return { privateKey, decryptKey, spki, createdAt: now };
    } finally {
      pkcs8.fill(0);
    }
  });
}

export class AttestedSession {
  readonly #attest: Attester;
  readonly #lifetimeMs: number;
  readonly #refreshMs: number;
  readonly #now: () => number;
  #current: Promise<KeyPair> | undefined;
  #next: Promise<KeyPair> | undefined;
  #shared: SharedDocument | undefined;
  /** The session key for which the custodian refused a reused document as `replayed`: no reuse until it changes. */
  #singleUseFor: KeyObject | undefined;
  #issued = 0;

  constructor(options: { attest: Attester; lifetimeMs?: number; refreshMs?: number; now?: () => number }) {
    this.#attest = options.attest;
    this.#lifetimeMs = options.lifetimeMs ?? DEFAULT_SESSION_LIFETIME_MS;
    this.#refreshMs = options.refreshMs ?? DEFAULT_ATTESTATION_REFRESH_MS;
    if (!Number.isSafeInteger(this.#refreshMs) || this.#refreshMs < 0) throw new RangeError('refreshMs must be a non-negative integer');
    this.#now = options.now ?? Date.now;
  }

  /** Documents asked of the platform so far. */
  get documentsIssued(): number {
    return this.#issued;
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

  #newDocument(pair: KeyPair, userData?: Uint8Array): Promise<Uint8Array> {
    this.#issued++;
    return this.#attest({ publicKey: pair.spki, nonce: new Uint8Array(randomBytes(32)), ...(userData ? { userData } : {}) });
  }

  /**
   * A recipient whose document states `userData` (a release purpose,
   * src/attestation/release-purpose.ts): always a fresh document, never shared
   * with and never reused for other releases.
   * @throws whatever the attester throws.
   */
  async statedRecipient(userData: Uint8Array): Promise<Recipient> {
    const pair = await this.#keyPair();
    return { privateKey: pair.privateKey, decryptKey: pair.decryptKey, document: await this.#newDocument(pair, userData), reused: false };
  }

  /**
   * A recipient for one release: the session's private key and an attestation
   * document for its public key — the session's current document while it is
   * younger than the refresh interval, else a fresh one (fresh nonce).
   * @throws whatever the attester throws (the platform refused or is gone).
   */
  async recipient(): Promise<Recipient> {
    const pair = await this.#keyPair();
    if (this.#refreshMs === 0 || this.#singleUseFor === pair.privateKey) {
      return { privateKey: pair.privateKey, decryptKey: pair.decryptKey, document: await this.#newDocument(pair), reused: false };
    }
    const now = this.#now();
    let shared = this.#shared;
    if (!shared || shared.pair !== pair || now - shared.createdAt >= this.#refreshMs) {
      const fresh: SharedDocument = { pair, document: this.#newDocument(pair), createdAt: now, uses: 0 };
      // A platform failure is not kept: the next release asks again.
      fresh.document.catch(() => {
        if (this.#shared === fresh) this.#shared = undefined;
      });
      this.#shared = shared = fresh;
    }
    const reused = shared.uses++ > 0;
    return { privateKey: pair.privateKey, decryptKey: pair.decryptKey, document: await shared.document, reused };
  }

  /**
   * The custodian refused `recipient`'s document (reason as it named it): that
   * document is not handed out again. After `replayed` for a reused document
   * the custodian accepts each document once, so this key pair gets a fresh
   * document per release.
   */
  async refused(recipient: Recipient, reason: string): Promise<void> {
    const shared = this.#shared;
    if (shared && (await shared.document.catch(() => undefined)) === recipient.document && this.#shared === shared) this.#shared = undefined;
    if (reason === 'replayed' && recipient.reused) this.#singleUseFor = recipient.privateKey;
  }

  /** Starts generating the first key pair (at start-up, off the first request's path). */
  warm(): Promise<void> {
    return this.#keyPair().then(() => undefined);
  }
}
