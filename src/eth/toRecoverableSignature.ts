/**
 * Turns what a digest signer returned (a DER ECDSA-Sig-Value as KMS `Sign`
 * returns it, or a 64-byte r || s) into a canonical Ethereum signature:
 *  - DER decoded strictly (src/crypto/der.ts: minimal lengths and integers, no trailing bytes);
 *  - 0 < r, s < n (SEC 1 §4.1.4 step 1);
 *  - s normalised to low-s (EIP-2: s > n/2 becomes n - s);
 *  - yParity found by public-key recovery (libsecp256k1) against the known
 *    address: the parity whose recovered key hashes to `address`. If neither
 *    does, the signer used another key or signed another digest, and nothing
 *    is returned. A recovery-id hint (what libsecp256k1 reported when it
 *    signed, or Symbolon's Sign header) only orders the two trials: right, it
 *    saves one recovery; wrong or absent, both parities are tried as before.
 *    It is never trusted: the hinted parity is verified like the other.
 */
import { bytesToHex, numberToBytes, type Address } from 'viem';
import { keccak } from './keccak.js';
import { abytes } from '../crypto/bytes.js';
import { decodeEcdsaSignatureDer, DerError } from '../crypto/der.js';
import { recoverPublicKey, SECP256K1_HALF_N, SECP256K1_N } from '../crypto/secp256k1.js';
import { InvalidSignatureError, SignerMismatchError } from './errors.js';
import type { RecoverableSignature } from './types.js';

function toCompact(signature: Uint8Array): Uint8Array {
  if (signature[0] === 0x30) {
    try {
      return decodeEcdsaSignatureDer(signature);
    } catch (e) {
      if (!(e instanceof DerError)) throw e;
      // A 64-byte r || s may begin with 0x30 too; only such a one falls through.
      if (signature.length !== 64) throw new InvalidSignatureError('INVALID_DER', `Signature (${signature.length} bytes) is not strict DER.`, { cause: e });
    }
  }
  if (signature.length !== 64)
    throw new InvalidSignatureError('INVALID_SIGNATURE_LENGTH', `Signature must be DER or 64 bytes (r || s), got ${signature.length} bytes.`);
  return signature;
}

function toBigInt(bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : BigInt(bytesToHex(bytes));
}

function recoveredAddressMatches(compact: Uint8Array, recovery: number, digest: Uint8Array, address: string): boolean {
  const publicKey = recoverPublicKey(compact, recovery, digest);
  if (!publicKey) return false;
  return bytesToHex(keccak(publicKey.subarray(1)).subarray(12)).slice(2) === address.slice(2).toLowerCase();
}

/**
 * Makes a canonical `{ r, s, yParity }` from a signer's output over `digest`.
 * @throws {TypeError | RangeError} when `digest` is not 32 bytes or `signature` not a Uint8Array.
 * @throws {InvalidSignatureError} on non-strict DER, a wrong length, or r or s out of range.
 * @throws {SignerMismatchError} when neither parity recovers to `address`.
 */
export function toRecoverableSignature({
  digest,
  signature,
  address,
  recoveryHint,
}: {
  digest: Uint8Array;
  signature: Uint8Array;
  address: Address;
  /** The signer's recovery id for `signature` as given (before low-s normalisation); 0 or 1, else ignored. */
  recoveryHint?: number | undefined;
}): RecoverableSignature {
  abytes(digest, 32, 'digest');
  abytes(signature, undefined, 'signature');
  const compact = toCompact(signature);
  const r = toBigInt(compact.subarray(0, 32));
  let s = toBigInt(compact.subarray(32, 64));
  if (r === 0n || r >= SECP256K1_N || s === 0n || s >= SECP256K1_N) {
    throw new InvalidSignatureError('SIGNATURE_OUT_OF_RANGE', 'Signature r and s must be in [1, n-1].');
  }
  // EIP-2: a node refuses s > n/2; (r, n - s) is the same signature's other form.
  let first: 0 | 1 = recoveryHint === 1 ? 1 : 0;
  const normalised = new Uint8Array(64);
  normalised.set(compact.subarray(0, 32), 0);
  if (s > SECP256K1_HALF_N) {
    s = SECP256K1_N - s;
    normalised.set(numberToBytes(s, { size: 32 }), 32);
    // (r, n - s) recovers with the other parity.
    if (recoveryHint === 0 || recoveryHint === 1) first = first === 0 ? 1 : 0;
  } else {
    normalised.set(compact.subarray(32, 64), 32);
  }
  for (const yParity of first === 0 ? ([0, 1] as const) : ([1, 0] as const)) {
    if (recoveredAddressMatches(normalised, yParity, digest, address)) {
      return { r: bytesToHex(normalised.subarray(0, 32)), s: bytesToHex(normalised.subarray(32, 64)), yParity };
    }
  }
  throw new SignerMismatchError();
}
