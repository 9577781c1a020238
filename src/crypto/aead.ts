/**
 * AES-256-GCM (NIST SP 800-38D) with a 96-bit random nonce and a 128-bit tag,
 * through node:crypto (OpenSSL). Layout of a sealed box: nonce(12) || ciphertext || tag(16).
 * Associated data binds a box to its context (a key id and version, an encryption
 * context); opening with different associated data fails.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { abytes } from './bytes.js';

export const AEAD_KEY_BYTES = 32;
export const AEAD_NONCE_BYTES = 12;
export const AEAD_TAG_BYTES = 16;
export const AEAD_OVERHEAD = AEAD_NONCE_BYTES + AEAD_TAG_BYTES;

/** Raised when a box does not open: wrong key, wrong associated data, or tampered bytes. */
export class AeadOpenError extends Error {
  override name = 'AeadOpenError';
  constructor() {
    super('authenticated decryption failed');
  }
}

/**
 * Encrypts `plaintext` under `key` with a fresh random nonce.
 * @throws {TypeError|RangeError} on a key that is not 32 bytes.
 */
export function aeadSeal(key: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
  abytes(key, AEAD_KEY_BYTES, 'key');
  abytes(plaintext, undefined, 'plaintext');
  abytes(aad, undefined, 'aad');
  const nonce = randomBytes(AEAD_NONCE_BYTES);
  return aeadSealWithNonce(key, nonce, plaintext, aad);
}

/**
 * Encrypts with a caller-chosen nonce. Only for known-answer tests: reusing a
 * nonce under one key breaks GCM completely.
 */
export function aeadSealWithNonce(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: AEAD_TAG_BYTES });
  cipher.setAAD(aad);
  const body = cipher.update(plaintext);
  const final = cipher.final();
  const tag = cipher.getAuthTag();
  const out = new Uint8Array(nonce.length + body.length + final.length + tag.length);
  out.set(nonce, 0);
  out.set(body, nonce.length);
  out.set(final, nonce.length + body.length);
  out.set(tag, nonce.length + body.length + final.length);
  body.fill(0);
  return out;
}

/**
 * Decrypts a box made by {@link aeadSeal}. The caller owns (and must wipe) the result.
 * @throws {AeadOpenError} when the box does not authenticate.
 */
export function aeadOpen(key: Uint8Array, box: Uint8Array, aad: Uint8Array): Uint8Array {
  abytes(key, AEAD_KEY_BYTES, 'key');
  abytes(box, undefined, 'box');
  if (box.length < AEAD_OVERHEAD) throw new AeadOpenError();
  const nonce = box.subarray(0, AEAD_NONCE_BYTES);
  const tag = box.subarray(box.length - AEAD_TAG_BYTES);
  const body = box.subarray(AEAD_NONCE_BYTES, box.length - AEAD_TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: AEAD_TAG_BYTES });
  decipher.setAAD(aad);
  decipher.setAuthTag(tag);
  const out = decipher.update(body);
  try {
    decipher.final();
  } catch {
    out.fill(0);
    throw new AeadOpenError();
  }
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}
