/**
 * The custodian's key-material core: the one module where a KMS key's plaintext
 * material exists. It generates material, seals it under the root of trust,
 * and opens it only inside a single operation (sign, encrypt, decrypt, MAC),
 * wiping it in `finally`. Nothing here returns private or secret key material.
 *
 * - secp256k1: libsecp256k1 (src/crypto/secp256k1.ts), RFC 6979, low-s.
 * - P-256: @noble/curves (constant-time, audited), RFC 6979.
 * - Symmetric: AES-256-GCM under a per-ciphertext key, HKDF-SHA256(material, salt),
 *   so random-nonce limits never bind however many ciphertexts a key makes.
 * - HMAC_224/256/384/512: HMAC-SHA-224/256/384/512 (RFC 2104) through node:crypto,
 *   under material as long as the hash's output.
 */
import { createHmac, randomBytes, randomFillSync } from 'node:crypto';
import { p256 } from '@noble/curves/nist.js';
import { aeadOpen, aeadSeal, AeadOpenError } from '../crypto/aead.js';
import { hkdfSha256 } from '../crypto/hkdf.js';
import { concatBytes, equalConstantTime, utf8Bytes, wipe } from '../crypto/bytes.js';
import { decodeEcdsaSignatureDer, encodeEcdsaSignatureDer, encodeEcPkcs8, encodeEcSpki, DerError } from '../crypto/der.js';
import * as k1 from '../crypto/secp256k1.js';
import { sealingContext, type RootOfTrust } from '../root/root-of-trust.js';
import { hmacSpec, type KeySpec } from './model.js';

const MATERIAL_PURPOSE = 'kms/key-material/v1';

/** Sealed material and, for asymmetric keys, the public key as DER SPKI. */
export interface NewMaterial {
  sealed: Uint8Array;
  publicKey: Uint8Array | null;
}

const aadCache = new Map<string, Uint8Array>();

/** Associated data binding sealed material to (keyId, version); memoised, as the hot paths ask for it per request. */
export function materialAad(keyId: string, version: number): Uint8Array {
  const id = `${keyId}/${version}`;
  let aad = aadCache.get(id);
  if (!aad) {
    if (aadCache.size >= 10_000) aadCache.clear();
    aad = sealingContext(MATERIAL_PURPOSE, keyId, version);
    aadCache.set(id, aad);
  }
  return aad;
}

/** Generates fresh material for `spec`, seals it to (keyId, version), and wipes the plaintext. */
export function createMaterial(root: RootOfTrust, spec: KeySpec, keyId: string, version: number): NewMaterial {
  let secret: Uint8Array | undefined;
  try {
    let publicKey: Uint8Array | null = null;
    switch (spec) {
      case 'ECC_SECG_P256K1':
        secret = k1.generatePrivateKey();
        publicKey = encodeEcSpki('secp256k1', k1.getPublicKey(secret, false));
        break;
      case 'ECC_NIST_P256':
        secret = p256.utils.randomSecretKey();
        publicKey = encodeEcSpki('P-256', p256.getPublicKey(secret, false));
        break;
      case 'SYMMETRIC_DEFAULT':
      case 'HMAC_224':
      case 'HMAC_256':
      case 'HMAC_384':
      case 'HMAC_512':
        // randomFillSync writes straight into our buffer: no unwiped copy of the key is left behind.
        secret = randomFillSync(new Uint8Array(hmacSpec(spec)?.keyBytes ?? 32));
        break;
    }
    return { sealed: root.seal(secret, materialAad(keyId, version)), publicKey };
  } finally {
    wipe(secret);
  }
}

function withMaterial<T>(root: RootOfTrust, keyId: string, version: number, sealed: Uint8Array, use: (secret: Uint8Array) => T): T {
  const secret = root.open(sealed, materialAad(keyId, version));
  try {
    return use(secret);
  } finally {
    wipe(secret);
  }
}

/**
 * Signs a 32-byte digest with an asymmetric key; returns a DER ECDSA signature
 * and, for secp256k1, libsecp256k1's recovery id of that signature (public:
 * anyone with the signature and the public key can compute it).
 * @throws {SealedBoxError} if the material does not open.
 */
export function signDigest(
  root: RootOfTrust,
  spec: KeySpec,
  keyId: string,
  version: number,
  sealed: Uint8Array,
  digest: Uint8Array,
): { der: Uint8Array; recoveryId?: number } {
  return withMaterial(root, keyId, version, sealed, (secret) => {
    if (spec === 'ECC_SECG_P256K1') {
      const { signature, recovery } = k1.signDigest(digest, secret);
      return { der: encodeEcdsaSignatureDer(signature), recoveryId: recovery };
    }
    if (spec === 'ECC_NIST_P256') return { der: p256.sign(digest, secret, { prehash: false, lowS: false, format: 'der' }) };
    throw new TypeError(`key spec ${spec} cannot sign`);
  });
}

/**
 * secp256k1 only, for the internal Ethereum paths (src/kms/sign-payload.ts;
 * KMS `Sign` answers DER through signDigest): libsecp256k1's compact r || s
 * (RFC 6979, low-s) and its recovery id, without a DER round trip.
 * @throws {SealedBoxError} if the material does not open.
 */
export function signDigestCompact(
  root: RootOfTrust,
  keyId: string,
  version: number,
  sealed: Uint8Array,
  digest: Uint8Array,
): { signature: Uint8Array; recoveryId: number } {
  return withMaterial(root, keyId, version, sealed, (secret) => {
    const { signature, recovery } = k1.signDigest(digest, secret);
    return { signature, recoveryId: recovery };
  });
}

/**
 * Verifies a DER signature over a digest with the key's public key (no secret
 * involved). Returns false, never throws, for a malformed or wrong signature.
 */
export function verifyDigest(spec: KeySpec, publicKeyPoint: Uint8Array, digest: Uint8Array, der: Uint8Array): boolean {
  let compact: Uint8Array;
  try {
    compact = decodeEcdsaSignatureDer(der);
  } catch (e) {
    if (e instanceof DerError) return false;
    throw e;
  }
  if (spec === 'ECC_SECG_P256K1') return k1.verifyDigest(compact, digest, publicKeyPoint);
  if (spec === 'ECC_NIST_P256') {
    try {
      return p256.verify(compact, digest, publicKeyPoint, { prehash: false, lowS: false, format: 'compact' });
    } catch {
      return false;
    }
  }
  return false;
}

// Symmetric ciphertexts.

const CIPHERTEXT_FORMAT = 0x01;
const SALT_BYTES = 32;
/** Fixed part of a ciphertext blob: format(1) || key id(16) || version(4) || salt(32). */
export const CIPHERTEXT_HEADER_BYTES = 1 + 16 + 4 + SALT_BYTES;

function uuidBytes(uuid: string): Uint8Array {
  return new Uint8Array(Buffer.from(uuid.replace(/-/g, ''), 'hex'));
}

function bytesUuid(b: Uint8Array): string {
  const h = Buffer.from(b).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * The encryption context as associated data: entries sorted by key (UTF-8
 * byte order), each key and value length-prefixed, so distinct contexts never
 * encode alike.
 */
export function encodeEncryptionContext(context: Record<string, string> | undefined): Uint8Array {
  const entries = Object.entries(context ?? {}).map(([k, v]) => [utf8Bytes(k), utf8Bytes(v)] as const);
  entries.sort((a, b) => Buffer.compare(a[0], b[0]));
  const parts: Uint8Array[] = [];
  const len = (n: number) => {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, n);
    return b;
  };
  parts.push(len(entries.length));
  for (const [k, v] of entries) parts.push(len(k.length), k, len(v.length), v);
  return concatBytes(...parts);
}

/** Reads which key and version a ciphertext blob names, or null if it is not one of ours. */
export function parseCiphertextHeader(blob: Uint8Array): { keyId: string; version: number } | null {
  if (blob.length < CIPHERTEXT_HEADER_BYTES + 28 || blob[0] !== CIPHERTEXT_FORMAT) return null;
  const keyId = bytesUuid(blob.subarray(1, 17));
  const version = new DataView(blob.buffer, blob.byteOffset + 17, 4).getUint32(0);
  return { keyId, version };
}

const CIPHERTEXT_INFO = utf8Bytes('symbolon/kms/ciphertext/v1');

function ciphertextKey(secret: Uint8Array, salt: Uint8Array, header: Uint8Array): Uint8Array {
  return hkdfSha256(secret, salt, concatBytes(CIPHERTEXT_INFO, header));
}

/**
 * Encrypts `plaintext` under a symmetric key version, binding the encryption
 * context; returns the ciphertext blob (which names its key and version).
 */
export function encrypt(
  root: RootOfTrust,
  keyId: string,
  version: number,
  sealed: Uint8Array,
  plaintext: Uint8Array,
  context: Record<string, string> | undefined,
): Uint8Array {
  const header = new Uint8Array(CIPHERTEXT_HEADER_BYTES);
  header[0] = CIPHERTEXT_FORMAT;
  header.set(uuidBytes(keyId), 1);
  new DataView(header.buffer).setUint32(17, version);
  header.set(randomBytes(SALT_BYTES), 21);
  return withMaterial(root, keyId, version, sealed, (secret) => {
    const k = ciphertextKey(secret, header.subarray(21), header.subarray(0, 21));
    try {
      return concatBytes(header, aeadSeal(k, plaintext, concatBytes(header, encodeEncryptionContext(context))));
    } finally {
      wipe(k);
    }
  });
}

/** Raised when a ciphertext does not decrypt (wrong context, altered, or not ours). */
export class CiphertextError extends Error {
  override name = 'CiphertextError';
}

/**
 * Decrypts a blob made by {@link encrypt}. The caller wipes the result.
 * @throws {CiphertextError} on a wrong context or altered blob.
 */
export function decrypt(
  root: RootOfTrust,
  keyId: string,
  version: number,
  sealed: Uint8Array,
  blob: Uint8Array,
  context: Record<string, string> | undefined,
): Uint8Array {
  const header = blob.subarray(0, CIPHERTEXT_HEADER_BYTES);
  return withMaterial(root, keyId, version, sealed, (secret) => {
    const k = ciphertextKey(secret, header.subarray(21), header.subarray(0, 21));
    try {
      return aeadOpen(k, blob.subarray(CIPHERTEXT_HEADER_BYTES), concatBytes(header, encodeEncryptionContext(context)));
    } catch (e) {
      if (e instanceof AeadOpenError) throw new CiphertextError('ciphertext did not decrypt');
      throw e;
    } finally {
      wipe(k);
    }
  });
}

/** The node:crypto hash of an HMAC key spec. */
function macHash(spec: KeySpec): string {
  const hmac = hmacSpec(spec);
  if (!hmac) throw new TypeError(`key spec ${spec} cannot compute a MAC`);
  return hmac.hash;
}

/** HMAC of `message` under an HMAC key, with the hash of the key's spec. */
export function generateMac(root: RootOfTrust, spec: KeySpec, keyId: string, version: number, sealed: Uint8Array, message: Uint8Array): Uint8Array {
  const hash = macHash(spec);
  return withMaterial(root, keyId, version, sealed, (secret) => new Uint8Array(createHmac(hash, secret).update(message).digest()));
}

/**
 * Verifies an HMAC tag (the hash of the key's spec) in constant time. The
 * computed tag is wiped. Returns false, never throws, for a tag of the wrong length.
 */
export function verifyMac(root: RootOfTrust, spec: KeySpec, keyId: string, version: number, sealed: Uint8Array, message: Uint8Array, mac: Uint8Array): boolean {
  const hash = macHash(spec);
  return withMaterial(root, keyId, version, sealed, (secret) => {
    const expected = createHmac(hash, secret).update(message).digest();
    try {
      return equalConstantTime(expected, mac);
    } finally {
      wipe(expected);
    }
  });
}

/**
 * A fresh data key of `length` bytes from the platform CSPRNG, and the same key
 * encrypted under a symmetric key version (as {@link encrypt}). The caller
 * wipes `plaintext`.
 */
export function generateDataKey(
  root: RootOfTrust,
  keyId: string,
  version: number,
  sealed: Uint8Array,
  length: number,
  context: Record<string, string> | undefined,
): { plaintext: Uint8Array; ciphertext: Uint8Array } {
  // randomFillSync writes into our own buffer, so no unwiped copy is left behind.
  const plaintext = randomFillSync(new Uint8Array(length));
  try {
    return { plaintext, ciphertext: encrypt(root, keyId, version, sealed, plaintext, context) };
  } catch (e) {
    wipe(plaintext);
    throw e;
  }
}

/** As {@link generateDataKey}, but the plaintext key is wiped here and never returned. */
export function generateWrappedDataKey(
  root: RootOfTrust,
  keyId: string,
  version: number,
  sealed: Uint8Array,
  length: number,
  context: Record<string, string> | undefined,
): Uint8Array {
  const { plaintext, ciphertext } = generateDataKey(root, keyId, version, sealed, length, context);
  wipe(plaintext);
  return ciphertext;
}

/** The data key pair specs this custodian generates (GenerateDataKeyPair*). */
export type DataKeyPairSpec = 'ECC_SECG_P256K1' | 'ECC_NIST_P256';

/**
 * A fresh EC key pair generated here (secp256k1 through libsecp256k1, P-256
 * through @noble/curves), returned as the private key in DER PKCS #8, the
 * public key in DER SPKI, and the PKCS #8 encrypted under a symmetric key
 * version exactly as {@link encrypt} (so Decrypt opens it). The scalar is
 * wiped here; the caller wipes `privateKey`.
 * @throws {SealedBoxError} if the symmetric key's material does not open.
 */
export function generateDataKeyPair(
  root: RootOfTrust,
  keyId: string,
  version: number,
  sealed: Uint8Array,
  spec: DataKeyPairSpec,
  context: Record<string, string> | undefined,
): { privateKey: Uint8Array; publicKey: Uint8Array; ciphertext: Uint8Array } {
  let secret: Uint8Array | undefined;
  let privateKey: Uint8Array | undefined;
  try {
    secret = spec === 'ECC_SECG_P256K1' ? k1.generatePrivateKey() : p256.utils.randomSecretKey();
    const point = spec === 'ECC_SECG_P256K1' ? k1.getPublicKey(secret, false) : p256.getPublicKey(secret, false);
    const curve = spec === 'ECC_SECG_P256K1' ? 'secp256k1' : 'P-256';
    privateKey = encodeEcPkcs8(curve, secret, point);
    const ciphertext = encrypt(root, keyId, version, sealed, privateKey, context);
    return { privateKey, publicKey: encodeEcSpki(curve, point), ciphertext };
  } catch (e) {
    wipe(privateKey);
    throw e;
  } finally {
    wipe(secret);
  }
}
