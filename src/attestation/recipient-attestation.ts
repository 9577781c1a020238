/**
 * The custodian's side of an attested release (AWS KMS `Recipient`, KMS
 * Developer Guide "Cryptographic attestation support in AWS KMS"): verify the
 * attestation document against the trusted platform keys and for freshness,
 * check the recipient public key, and produce the condition keys key
 * policies test:
 *
 *   kms:RecipientAttestation:ImageSha384  lower-case hex of PCR0 (Nitro's "image" measurement)
 *   kms:RecipientAttestation:PCR<n>       lower-case hex of every PCR the document carries
 *   symbolon:SplitSharePurpose            what the signer says the release is for (release-purpose.ts):
 *                                         `export` when its user_data states it, else `sign`
 *
 * Attested sessions (docs/signer.md, "Sessions and cost"): a document that
 * verified is kept, by the SHA-256 of its exact bytes, until the earlier of
 * its timestamp plus the accepted age and its first verification plus the
 * session time (`sessionMs`, SYMBOLON_ATTESTATION_SESSION_SECONDS, default
 * 60 s). The same bytes presented again inside that window cost a hash lookup
 * (no re-parse, no ES384); after it they are refused (`stale`). Another
 * document reusing a nonce already seen is refused (`replayed`). With
 * `sessionMs` 0 each document is good for one release (a second use is
 * `replayed`). Every release still needs the owner's credentials and passes
 * the key policy; a reused document only ever releases ciphertext encrypted
 * to the attested key.
 *
 * Replay memory is per process and lasts as long as a document stays fresh
 * (its timestamp plus the accepted age): a document replayed to another
 * custodian process within that window is caught only if the processes share
 * nothing — see docs/signer.md.
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { AttestationError } from './errors.js';
import { MAX_CLOCK_SKEW_MS, MAX_DOCUMENT_AGE_MS } from './document.js';
import { TrustedPlatformKeys, verifyAttestationDocument } from './verifyAttestationDocument.js';
import { decodeReleasePurpose, RELEASE_PURPOSE_KEY, type ReleasePurpose } from './release-purpose.js';

/** RSA moduli a recipient key may have (AWS requires an RSA key; 2048 is what Nitro clients use). */
const RSA_MODULUS_BITS = new Set([2048, 3072, 4096]);
/** Documents remembered at most; beyond this new documents are refused until old ones expire. */
const DEFAULT_MAX_REMEMBERED = 1_000_000;
/** Parsed recipient keys kept (a signer's session key is used for minutes). */
const MAX_CACHED_KEYS = 1_000;
/** How long a verified document may be presented again, by default (SYMBOLON_ATTESTATION_SESSION_SECONDS). */
export const DEFAULT_ATTESTATION_SESSION_MS = 60_000;

export interface AttestedRecipient {
  /** The RSA public key the release is encrypted to. */
  key: KeyObject;
  /** Its DER SubjectPublicKeyInfo, as the document carried it. */
  spki: Uint8Array;
  /** Condition keys for authorize(). */
  conditions: Record<string, string>;
  /** What the signer stated the release is for (`sign` when it stated nothing). */
  purpose: ReleasePurpose;
}

export interface RecipientAttestationOptions {
  /** Trusted platform keys (DER SubjectPublicKeyInfo of P-384 keys). */
  trustedKeys: Iterable<Uint8Array>;
  maxAgeMs?: number;
  maxSkewMs?: number;
  maxRemembered?: number;
  /**
   * How long after its first verification a document may be presented again
   * (never beyond its own freshness); 0: each document is good for one release.
   */
  sessionMs?: number;
}

/** Counters for tests and metrics: full verifications and session hits. */
export interface RecipientAttestationStats {
  /** Documents verified in full (COSE, ES384, freshness, nonce, key). */
  verified: number;
  /** Releases that reused a document inside its session (one hash lookup). */
  sessionHits: number;
}

/** Condition key names (KMS Developer Guide, "kms:RecipientAttestation:ImageSha384", "…:PCR"). */
export const IMAGE_SHA384_KEY = 'kms:RecipientAttestation:ImageSha384';
export function pcrConditionKey(index: number): string {
  return `kms:RecipientAttestation:PCR${index}`;
}

export class RecipientAttestation {
  readonly #trusted: TrustedPlatformKeys;
  readonly #maxAgeMs: number;
  readonly #maxSkewMs: number;
  readonly #maxRemembered: number;
  readonly #sessionMs: number;
  /** Document hash -> when it can be forgotten; insertion order is roughly expiry order. */
  readonly #seenDocuments = new Map<string, number>();
  readonly #seenNonces = new Map<string, number>();
  /** Document hash -> its verified result, while its session lasts (a subset of #seenDocuments). */
  readonly #sessions = new Map<string, { recipient: AttestedRecipient; until: number }>();
  readonly #keys = new Map<string, KeyObject>();
  /**
   * One result object per (recipient key, measurements): every document of a
   * signer session shares it, so a session entry costs a reference, not a copy
   * of the key and condition keys (the memory bound counts documents).
   */
  readonly #recipients = new Map<string, AttestedRecipient>();
  #verified = 0;
  #sessionHits = 0;

  constructor(options: RecipientAttestationOptions) {
    this.#trusted = new TrustedPlatformKeys(options.trustedKeys);
    this.#maxAgeMs = options.maxAgeMs ?? MAX_DOCUMENT_AGE_MS;
    this.#maxSkewMs = options.maxSkewMs ?? MAX_CLOCK_SKEW_MS;
    this.#maxRemembered = options.maxRemembered ?? DEFAULT_MAX_REMEMBERED;
    const sessionMs = options.sessionMs ?? DEFAULT_ATTESTATION_SESSION_MS;
    if (!Number.isSafeInteger(sessionMs) || sessionMs < 0) throw new RangeError('sessionMs must be a non-negative integer');
    this.#sessionMs = sessionMs;
  }

  /** How long a verified document may be presented again (0: single use). */
  get sessionMs(): number {
    return this.#sessionMs;
  }

  /** Full verifications and session hits so far. */
  get stats(): RecipientAttestationStats {
    return { verified: this.#verified, sessionHits: this.#sessionHits };
  }

  /** How many platform keys are trusted. */
  get trustedKeyCount(): number {
    return this.#trusted.size;
  }

  /**
   * Verifies a `Recipient` attestation document, or finds it verified inside
   * its session. A document seen before and outside its session is refused,
   * as is another document with a nonce seen before.
   * @throws {AttestationError} with the reason.
   */
  accept(document: Uint8Array, now: number): AttestedRecipient {
    this.#forgetExpired(now);
    // A document seen before costs a hash lookup, never signature work.
    const docHash = createHash('sha256').update(document).digest('base64');
    const session = this.#sessions.get(docHash);
    if (session && now < session.until) {
      this.#sessionHits++;
      return session.recipient;
    }
    if (session || this.#seenDocuments.has(docHash)) {
      if (this.#sessionMs === 0) throw new AttestationError('replayed', 'This attestation document was already used.');
      throw new AttestationError('stale', 'The attested session of this document has ended; a fresh document is required.');
    }
    const doc = verifyAttestationDocument(document, { trusted: this.#trusted, now, maxAgeMs: this.#maxAgeMs, maxSkewMs: this.#maxSkewMs });
    if (!doc.publicKey || doc.publicKey.length === 0)
      throw new AttestationError('bad_public_key', 'The attestation document carries no public key to encrypt the result to.');
    const key = this.#recipientKey(doc.publicKey);
    let purpose: ReleasePurpose;
    try {
      purpose = decodeReleasePurpose(doc.userData);
    } catch {
      throw new AttestationError('malformed', 'The attestation document user_data does not state a known release purpose.');
    }

    const nonce = doc.nonce && doc.nonce.length > 0 ? Buffer.from(doc.nonce).toString('base64') : undefined;
    if (nonce !== undefined && this.#seenNonces.has(nonce)) throw new AttestationError('replayed', 'The nonce of this attestation document was already used.');
    if (this.#seenDocuments.size >= this.#maxRemembered) throw new AttestationError('replayed', 'Too many attestation documents are in use; retry shortly.');
    const forgetAt = doc.timestamp + this.#maxAgeMs + this.#maxSkewMs;
    this.#seenDocuments.set(docHash, forgetAt);
    if (nonce !== undefined) this.#seenNonces.set(nonce, forgetAt);
    this.#verified++;

    const recipient = this.#recipient(key, doc.publicKey, doc.pcrs, purpose);
    if (this.#sessionMs > 0) {
      // The session ends when the document would be stale, or sessionMs after this first use, whichever is first.
      const until = Math.min(doc.timestamp + this.#maxAgeMs, now + this.#sessionMs);
      if (until > now) this.#sessions.set(docHash, { recipient, until });
    }
    return recipient;
  }

  /** The (shared, frozen) result for this key and these measurements. */
  #recipient(key: KeyObject, spki: Uint8Array, pcrs: ReadonlyMap<number, Uint8Array>, purpose: ReleasePurpose): AttestedRecipient {
    const pcrHex = [...pcrs].map(([i, v]) => `${i}:${Buffer.from(v).toString('hex')}`);
    const id = `${Buffer.from(spki).toString('base64')}|${pcrHex.join(',')}|${purpose}`;
    const cached = this.#recipients.get(id);
    if (cached) return cached;
    const conditions: Record<string, string> = {};
    const pcr0 = pcrs.get(0);
    if (pcr0) conditions[IMAGE_SHA384_KEY] = Buffer.from(pcr0).toString('hex');
    for (const [i, v] of pcrs) conditions[pcrConditionKey(i)] = Buffer.from(v).toString('hex');
    conditions[RELEASE_PURPOSE_KEY] = purpose;
    // Its own copy of the key bytes: the document's buffer is not kept alive by a session.
    const recipient: AttestedRecipient = Object.freeze({ key, spki: Uint8Array.from(spki), conditions: Object.freeze(conditions), purpose });
    if (this.#recipients.size >= MAX_CACHED_KEYS) this.#recipients.clear();
    this.#recipients.set(id, recipient);
    return recipient;
  }

  /**
   * Parses (or finds) the recipient's RSA key. Signers reuse a session key
   * for minutes, so parsed keys are kept, keyed by their exact DER bytes.
   */
  #recipientKey(spki: Uint8Array): KeyObject {
    const id = Buffer.from(spki.buffer, spki.byteOffset, spki.byteLength).toString('base64');
    const cached = this.#keys.get(id);
    if (cached) return cached;
    let key: KeyObject;
    try {
      key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
    } catch {
      throw new AttestationError('bad_public_key', 'The attestation document public_key is not a DER SubjectPublicKeyInfo.');
    }
    const bits = key.asymmetricKeyDetails?.modulusLength;
    if (key.asymmetricKeyType !== 'rsa' || bits === undefined || !RSA_MODULUS_BITS.has(bits)) {
      throw new AttestationError('bad_public_key', 'The attestation document public_key must be an RSA key of 2048, 3072 or 4096 bits.');
    }
    if (this.#keys.size >= MAX_CACHED_KEYS) this.#keys.clear();
    this.#keys.set(id, key);
    return key;
  }

  #forgetExpired(now: number): void {
    for (const map of [this.#seenDocuments, this.#seenNonces]) {
      for (const [k, until] of map) {
        if (until > now) break;
        map.delete(k);
      }
    }
    for (const [k, s] of this.#sessions) {
      if (s.until > now) break;
      this.#sessions.delete(k);
    }
  }
}
