/**
 * HKDF-SHA-256 (RFC 5869) for one 32-byte output block: PRK = HMAC(salt, IKM),
 * OKM = T(1) = HMAC(PRK, info || 0x01). The same result as node:crypto's
 * hkdfSync for L = 32, at well under half its cost (it builds KeyObjects on
 * every call), which matters on the per-ciphertext key path of Encrypt,
 * Decrypt and GenerateDataKey. The caller wipes the result.
 */
import { createHmac } from 'node:crypto';
import { abytes } from './bytes.js';

const BLOCK_1 = Uint8Array.of(1);

/**
 * @throws {TypeError} when an argument is not a Uint8Array.
 */
export function hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array): Uint8Array {
  abytes(ikm, undefined, 'ikm');
  abytes(salt, undefined, 'salt');
  abytes(info, undefined, 'info');
  // RFC 5869 §2.2: an absent salt is HashLen zero bytes.
  const prk = createHmac('sha256', salt.length ? salt : new Uint8Array(32))
    .update(ikm)
    .digest();
  try {
    const okm = createHmac('sha256', prk).update(info).update(BLOCK_1).digest();
    return new Uint8Array(okm.buffer, okm.byteOffset, okm.byteLength);
  } finally {
    prk.fill(0);
  }
}
