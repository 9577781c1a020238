/**
 * The Ethereum address of a secp256k1 public key (Yellow Paper §7: the last
 * 20 bytes of keccak256 of the 64-byte x || y), EIP-55 checksummed.
 *
 * Accepts the key as KMS GetPublicKey returns it (DER SubjectPublicKeyInfo,
 * RFC 5480) or raw: 65 bytes uncompressed (0x04 || x || y), 64 bytes (x || y)
 * or 33 bytes compressed. The point is checked to be on the curve.
 */
import { bytesToHex, getAddress, type Address } from 'viem';
import { keccak } from './keccak.js';
import { decodeEcSpki, DerError } from '../crypto/der.js';
import { isValidPublicKey, uncompressPublicKey } from '../crypto/secp256k1.js';
import { InvalidPublicKeyError } from './errors.js';

/**
 * Returns the 65-byte uncompressed point of a public key in any accepted form.
 * @throws {TypeError} when `publicKey` is not a Uint8Array.
 * @throws {InvalidPublicKeyError} on another curve, a malformed encoding, or a point not on secp256k1.
 */
export function toUncompressedPublicKey(publicKey: Uint8Array): Uint8Array {
  if (!(publicKey instanceof Uint8Array)) throw new TypeError('publicKey must be a Uint8Array');
  let point: Uint8Array;
  // Raw forms have fixed sizes (33, 64, 65) that no secp256k1 SPKI has (56 or 88 bytes).
  if (publicKey.length !== 33 && publicKey.length !== 64 && publicKey.length !== 65) {
    let decoded;
    try {
      decoded = decodeEcSpki(publicKey);
    } catch (e) {
      if (e instanceof DerError) throw new InvalidPublicKeyError('INVALID_PUBLIC_KEY', 'Public key is not a valid DER SubjectPublicKeyInfo.', { cause: e });
      throw e;
    }
    if (decoded.curve !== 'secp256k1') throw new InvalidPublicKeyError('UNSUPPORTED_CURVE', `Public key is on ${decoded.curve}, not secp256k1.`);
    point = decoded.point;
  } else if (publicKey.length === 64) {
    point = new Uint8Array(65);
    point[0] = 0x04;
    point.set(publicKey, 1);
  } else {
    point = publicKey;
  }
  if ((point.length !== 65 && point.length !== 33) || !isValidPublicKey(point)) {
    throw new InvalidPublicKeyError('INVALID_PUBLIC_KEY', `Public key (${publicKey.length} bytes) is not a valid secp256k1 point.`);
  }
  return point.length === 65 ? point : uncompressPublicKey(point);
}

/**
 * The EIP-55 checksummed address of a secp256k1 public key.
 * @throws {TypeError} when `publicKey` is not a Uint8Array.
 * @throws {InvalidPublicKeyError} when it is not a valid secp256k1 public key.
 */
export function publicKeyToAddress(publicKey: Uint8Array): Address {
  const point = toUncompressedPublicKey(publicKey);
  const hash = keccak(point.subarray(1));
  return getAddress(bytesToHex(hash.subarray(12)));
}
