/**
 * The platform attestation key: the P-384 key with which the platform (the
 * process that launches and measures the signer, playing the Nitro
 * hypervisor's part) signs attestation documents, ES384 (RFC 9053 §2.1).
 *
 * Where it lives:
 *  - embedded default (`--role all`): generated alongside the root key and
 *    kept in symbolon_meta, sealed under the root of trust with
 *    sealingContext('platform/attestation-key/v1'); the custodian trusts its
 *    public key by default;
 *  - a standalone signer host (`--role signer`): a key file (0600, created on
 *    first start) whose public key the operator adds to the custodian's
 *    SYMBOLON_ATTESTATION_TRUSTED_KEYS.
 *
 * Keys are generated with @noble/curves (p384) from the platform CSPRNG;
 * signing and verifying go through node:crypto (OpenSSL), which is 2 to 10
 * times faster than noble's P-384 and so stays off the release path's budget.
 * The public key travels as a DER SubjectPublicKeyInfo (RFC 5480).
 */
import { createPrivateKey, createPublicKey, sign as nodeSign, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { p384 } from '@noble/curves/nist.js';
import type { Kysely } from 'kysely';
import { abytes, asBytes, wipe } from '../crypto/bytes.js';
import type { RootOfTrust } from '../root/root-of-trust.js';
import { sealingContext } from '../root/root-of-trust.js';
import { getMeta, putMetaIfAbsent } from '../storage/meta.repository.js';
import type { Tables } from '../storage/tables.js';

/** P-384 private scalars are 48 bytes. */
export const PLATFORM_SECRET_BYTES = 48;
/** The symbolon_meta row holding the sealed embedded platform key. */
export const PLATFORM_KEY_META = 'platform_attestation_key';

/** Associated data of the sealed platform key. */
export function platformKeySealingContext(): Uint8Array {
  return sealingContext('platform/attestation-key/v1');
}

/** Raised when a platform key file or a trusted-key list is unusable; the message says what to fix. */
export class PlatformKeyError extends Error {
  override name = 'PlatformKeyError';
}

function b64url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

/** A platform attestation key in memory: signs ES384, exposes only its public half. */
export class PlatformKey {
  readonly #privateKey: KeyObject;
  /** DER SubjectPublicKeyInfo of the public key: what documents carry as `certificate`. */
  readonly spki: Uint8Array;

  private constructor(privateKey: KeyObject, spki: Uint8Array) {
    this.#privateKey = privateKey;
    this.spki = spki;
  }

  /**
   * Builds the key from its 48-byte secret scalar (copied; the caller wipes its copy).
   * @throws {RangeError} when `secret` is not a valid P-384 scalar.
   */
  static fromSecret(secret: Uint8Array): PlatformKey {
    abytes(secret, PLATFORM_SECRET_BYTES, 'platform secret');
    if (!p384.utils.isValidSecretKey(secret)) throw new RangeError('platform secret is not a valid P-384 scalar');
    const point = p384.getPublicKey(secret, false);
    const privateKey = createPrivateKey({
      key: { kty: 'EC', crv: 'P-384', d: b64url(secret), x: b64url(point.subarray(1, 49)), y: b64url(point.subarray(49, 97)) },
      format: 'jwk',
    });
    const spki = asBytes(createPublicKey(privateKey).export({ format: 'der', type: 'spki' }));
    return new PlatformKey(privateKey, spki);
  }

  /** A fresh secret scalar from the CSPRNG (the caller wipes it). */
  static generateSecret(): Uint8Array {
    return p384.utils.randomSecretKey();
  }

  /** ES384 over `message`: SHA-384, then ECDSA P-384, as 96-byte r || s. */
  sign(message: Uint8Array): Uint8Array {
    return asBytes(nodeSign('sha384', message, { key: this.#privateKey, dsaEncoding: 'ieee-p1363' }));
  }
}

/**
 * Loads the embedded platform key from symbolon_meta, creating it on first
 * start (first writer wins when several processes start together).
 * @throws {SealedBoxError} when the stored key does not open under `root`.
 */
export async function loadOrCreateStoredPlatformKey(db: Kysely<Tables>, root: RootOfTrust): Promise<PlatformKey> {
  const aad = platformKeySealingContext();
  let box = await getMeta(db, PLATFORM_KEY_META);
  if (!box) {
    const fresh = PlatformKey.generateSecret();
    try {
      box = await putMetaIfAbsent(db, PLATFORM_KEY_META, root.seal(fresh, aad));
    } finally {
      wipe(fresh);
    }
  }
  const secret = root.open(box, aad);
  try {
    return PlatformKey.fromSecret(secret);
  } finally {
    wipe(secret);
  }
}

/**
 * Loads a platform key file (96 hex characters), creating it with mode 0600
 * when it does not exist.
 * @throws {PlatformKeyError} when the file holds no valid key.
 */
export function loadOrCreatePlatformKeyFile(file: string): { key: PlatformKey; created: boolean } {
  let created = false;
  if (!existsSync(file)) {
    const fresh = PlatformKey.generateSecret();
    try {
      writeFileSync(file, Buffer.from(fresh).toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
    } finally {
      wipe(fresh);
    }
    created = true;
  }
  if (statSync(file).mode & 0o077) chmodSync(file, 0o600);
  const text = readFileSync(file, 'utf8').trim();
  if (!/^[0-9a-f]{96}$/i.test(text)) throw new PlatformKeyError(`${file} must hold a P-384 private key as 96 hex characters`);
  const secret = new Uint8Array(Buffer.from(text, 'hex'));
  try {
    return { key: PlatformKey.fromSecret(secret), created };
  } catch {
    throw new PlatformKeyError(`${file} does not hold a valid P-384 private key`);
  } finally {
    wipe(secret);
  }
}

/** Base64 of a DER SubjectPublicKeyInfo: the form SYMBOLON_ATTESTATION_TRUSTED_KEYS lists. */
export function encodeTrustedKey(spki: Uint8Array): string {
  return Buffer.from(spki).toString('base64');
}

/**
 * Reads SYMBOLON_ATTESTATION_TRUSTED_KEYS: base64 DER SubjectPublicKeyInfo
 * values of P-384 keys, separated by commas or white space.
 * @returns each key re-encoded canonically (so comparison is byte equality).
 * @throws {PlatformKeyError} naming the position of an entry that is not a P-384 public key.
 */
export function parseTrustedKeys(text: string | undefined): Uint8Array[] {
  if (!text) return [];
  const out: Uint8Array[] = [];
  text
    .split(/[\s,]+/)
    .filter(Boolean)
    .forEach((entry, i) => {
      let key: KeyObject;
      try {
        if (!/^[A-Za-z0-9+/]+={0,2}$/.test(entry)) throw new Error('not base64');
        key = createPublicKey({ key: Buffer.from(entry, 'base64'), format: 'der', type: 'spki' });
      } catch {
        throw new PlatformKeyError(`SYMBOLON_ATTESTATION_TRUSTED_KEYS entry ${i + 1} is not a base64 DER SubjectPublicKeyInfo`);
      }
      if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'secp384r1') {
        throw new PlatformKeyError(`SYMBOLON_ATTESTATION_TRUSTED_KEYS entry ${i + 1} is not a P-384 public key`);
      }
      out.push(asBytes(key.export({ format: 'der', type: 'spki' })));
    });
  return out;
}
