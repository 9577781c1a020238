/**
 * The secp256k1 public key inside a DER SubjectPublicKeyInfo (RFC 5480), as
 * KMS GetPublicKey returns it. DER is canonical, so a secp256k1 key has exactly
 * one encoding per point form: SEQUENCE { SEQUENCE { id-ecPublicKey, secp256k1 },
 * BIT STRING (0 unused bits) point }. Anything else is refused.
 */
import { KmsKeyError } from './errors.js';

// 30 56 | 30 10 06 07 2a8648ce3d0201 06 05 2b8104000a | 03 42 00 ‖ 04 x y
const UNCOMPRESSED_PREFIX = Uint8Array.from([
  0x30, 0x56, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a, 0x03, 0x42, 0x00,
]);
// 30 36 | same algorithm | 03 22 00 ‖ 02/03 x
const COMPRESSED_PREFIX = Uint8Array.from([
  0x30, 0x36, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a, 0x03, 0x22, 0x00,
]);

function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  if (bytes.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}

/**
 * Returns the SEC 1 point (65 bytes uncompressed, or 33 compressed) of a secp256k1 SPKI.
 * @throws {KmsKeyError} when the bytes are not a secp256k1 SubjectPublicKeyInfo.
 */
export function pointFromSpki(spki: Uint8Array): Uint8Array {
  if (spki.length === 88 && startsWith(spki, UNCOMPRESSED_PREFIX) && spki[23] === 0x04) return spki.slice(23);
  if (spki.length === 56 && startsWith(spki, COMPRESSED_PREFIX) && (spki[23] === 0x02 || spki[23] === 0x03)) return spki.slice(23);
  throw new KmsKeyError('NOT_SECP256K1', `Public key (${spki.length} bytes) is not a secp256k1 SubjectPublicKeyInfo.`);
}
