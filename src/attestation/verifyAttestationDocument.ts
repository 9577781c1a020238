/**
 * Verifies an attestation document, in the order AWS documents for Nitro
 * (attestation_process.md, "Syntactical validation" then "Semantic
 * validation"): COSE_Sign1 structure and ES384 algorithm; payload fields; the
 * signing certificate is a trusted platform key; the ES384 signature over the
 * Sig_structure; then freshness (timestamp no older than `maxAgeMs`, no
 * further in the future than `maxSkewMs`) and, when the caller expects one,
 * the nonce (constant-time comparison).
 *
 * Real Nitro documents are signed by a certificate that chains (cabundle) to
 * the AWS Nitro root; here the certificate IS a trusted P-384 key (a DER
 * SubjectPublicKeyInfo). Replacing the trusted-key lookup with X.509 chain
 * validation is the only change a real Nitro platform needs.
 */
import { createPublicKey, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { equalConstantTime } from '../crypto/bytes.js';
import { AttestationError } from './errors.js';
import { decodeCoseSign1 } from './cose-sign1.js';
import { parseAttestationPayload } from './parseAttestationPayload.js';
import { MAX_CLOCK_SKEW_MS, MAX_DOCUMENT_AGE_MS, type AttestationDocument } from './document.js';

/** A set of trusted platform keys (DER SubjectPublicKeyInfo), with their parsed forms cached. */
export class TrustedPlatformKeys {
  readonly #keys = new Map<string, KeyObject>();

  constructor(spkis: Iterable<Uint8Array>) {
    for (const spki of spkis) {
      const key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
      if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'secp384r1') {
        throw new RangeError('a trusted platform key must be a P-384 public key');
      }
      this.#keys.set(Buffer.from(spki).toString('base64'), key);
    }
  }

  get size(): number {
    return this.#keys.size;
  }

  /** The key whose SubjectPublicKeyInfo is exactly `spki`, if trusted. */
  find(spki: Uint8Array): KeyObject | undefined {
    return this.#keys.get(Buffer.from(spki.buffer, spki.byteOffset, spki.byteLength).toString('base64'));
  }
}

export interface VerifyOptions {
  trusted: TrustedPlatformKeys;
  /** Milliseconds since the epoch. */
  now: number;
  maxAgeMs?: number;
  maxSkewMs?: number;
  /** When given, the document must carry exactly this nonce. */
  expectedNonce?: Uint8Array | undefined;
}

/**
 * @returns the verified document.
 * @throws {AttestationError} with the reason (`malformed`, `unsupported_algorithm`,
 *   `untrusted_platform`, `bad_signature`, `stale`, `nonce_mismatch`).
 */
export function verifyAttestationDocument(bytes: Uint8Array, options: VerifyOptions): AttestationDocument {
  const cose = decodeCoseSign1(bytes);
  const doc = parseAttestationPayload(cose.payload);
  const key = options.trusted.find(doc.certificate);
  if (!key) throw new AttestationError('untrusted_platform', 'The attestation document is not signed by a trusted platform key.');
  if (!nodeVerify('sha384', cose.toBeSigned, { key, dsaEncoding: 'ieee-p1363' }, cose.signature)) {
    throw new AttestationError('bad_signature', 'The attestation document signature does not verify.');
  }
  checkFreshness(doc, options);
  if (options.expectedNonce !== undefined && (doc.nonce === undefined || !equalConstantTime(doc.nonce, options.expectedNonce))) {
    throw new AttestationError('nonce_mismatch', 'The attestation document does not carry the expected nonce.');
  }
  return doc;
}

/**
 * @throws {AttestationError} `stale` when the document is too old or dated in the future.
 */
export function checkFreshness(doc: AttestationDocument, options: { now: number; maxAgeMs?: number; maxSkewMs?: number }): void {
  const maxAge = options.maxAgeMs ?? MAX_DOCUMENT_AGE_MS;
  const skew = options.maxSkewMs ?? MAX_CLOCK_SKEW_MS;
  const age = options.now - doc.timestamp;
  if (age > maxAge) throw new AttestationError('stale', `The attestation document is ${Math.round(age / 1000)} s old; at most ${maxAge / 1000} s is accepted.`);
  if (-age > skew) throw new AttestationError('stale', 'The attestation document is dated in the future.');
}
