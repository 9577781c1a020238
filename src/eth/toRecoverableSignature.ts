/**
 * Turns what a digest signer returned (a DER ECDSA-Sig-Value as KMS `Sign`
 * returns it, or a 64-byte r || s) into a canonical Ethereum signature. The
 * work — strict DER, 0 < r, s < n, low-s (EIP-2), the hint flipped with s —
 * is the SDK's, the one home of it (packages/sdk/src/canonicalSignature.ts,
 * imported by relative path so that it is part of the signer's measured
 * image, src/signer/measure.ts). What this file adds:
 *  - a 64-byte r || s is taken as it is (a DER-looking one that is not strict
 *    DER falls through to it);
 *  - yParity is found against the known ADDRESS, not a public key: the parity
 *    whose libsecp256k1-recovered key hashes to `address`. If neither does,
 *    the signer used another key or signed another digest, and nothing is
 *    returned. A recovery-id hint (what libsecp256k1 reported when it signed,
 *    or Symbolon's Sign header) only orders the two trials: right, it saves
 *    one recovery; wrong or absent, both parities are tried. It is never
 *    trusted: the hinted parity is verified like the other;
 *  - src/eth's errors (InvalidSignatureError, SignerMismatchError) with the
 *    SDK's codes.
 */
import { bytesToHex, type Address } from 'viem';
import { canonicalFromScalars, decodeDerSignature } from '../../packages/sdk/src/canonicalSignature.js';
import { KmsSignatureError } from '../../packages/sdk/src/errors.js';
import { keccak } from './keccak.js';
import { abytes } from '../crypto/bytes.js';
import { recoverPublicKey } from '../crypto/secp256k1.js';
import { InvalidSignatureError, SignerMismatchError } from './errors.js';
import type { RecoverableSignature } from './types.js';

function toBigInt(bytes: Uint8Array): bigint {
  return BigInt(bytesToHex(bytes));
}

function toScalars(signature: Uint8Array): { r: bigint; s: bigint } {
  if (signature[0] === 0x30) {
    try {
      return decodeDerSignature(signature);
    } catch (e) {
      if (!(e instanceof KmsSignatureError)) throw e;
      // A 64-byte r || s may begin with 0x30 too; only such a one falls through.
      if (signature.length !== 64) throw new InvalidSignatureError('INVALID_DER', `Signature (${signature.length} bytes) is not strict DER.`, { cause: e });
    }
  }
  if (signature.length !== 64)
    throw new InvalidSignatureError('INVALID_SIGNATURE_LENGTH', `Signature must be DER or 64 bytes (r || s), got ${signature.length} bytes.`);
  return { r: toBigInt(signature.subarray(0, 32)), s: toBigInt(signature.subarray(32, 64)) };
}

/** The parity whose recovered key hashes to `address` (hinted one first), or undefined. */
function parityByAddress(address: Address) {
  const want = address.slice(2).toLowerCase();
  return (compact: Uint8Array, digest: Uint8Array, hint?: 0 | 1): 0 | 1 | undefined => {
    for (const yParity of hint === 1 ? ([1, 0] as const) : ([0, 1] as const)) {
      const publicKey = recoverPublicKey(compact, yParity, digest);
      if (publicKey && bytesToHex(keccak(publicKey.subarray(1)).subarray(12)).slice(2) === want) return yParity;
    }
    return undefined;
  };
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
  const { r, s } = toScalars(signature);
  try {
    return canonicalFromScalars(r, s, digest, parityByAddress(address), recoveryHint === 0 || recoveryHint === 1 ? recoveryHint : undefined);
  } catch (e) {
    if (e instanceof KmsSignatureError && e.code === 'SIGNER_MISMATCH') throw new SignerMismatchError();
    if (e instanceof KmsSignatureError && e.code === 'SIGNATURE_OUT_OF_RANGE')
      throw new InvalidSignatureError(e.code, 'Signature r and s must be in [1, n-1].');
    throw e;
  }
}
