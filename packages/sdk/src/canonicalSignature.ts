/**
 * Turns an ECDSA signature (DER ECDSA-Sig-Value, RFC 3279, as KMS `Sign`
 * returns it — or r and s already read from a 64-byte r || s) into a
 * canonical Ethereum signature: strict DER (noble's decoder refuses long-form
 * padding, non-minimal integers and trailing bytes), 0 < r, s < n, low-s
 * (EIP-2: s > n/2 becomes n - s, as AWS KMS returns either), and the yParity
 * that recovers the signer's key — found by noble (RecoveryParity,
 * browser-safe) or by a pluggable {@link ParityFunction} (e.g. libsecp256k1
 * through `@symbolon/sdk/node`). A recovery-id hint (Symbolon's custodian
 * sends one) only orders the trials of a ParityFunction: it saves one
 * recovery when right and costs nothing when wrong.
 *
 * The one implementation of DER → low-s → parity in the repository: the
 * custodian and the signer use it too (src/eth/toRecoverableSignature.ts,
 * through a relative import, so that it is part of the signer's measured
 * image). It imports only @noble/curves, viem and ./errors.ts, and stays so.
 */
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { hexToBytes, type Hex } from 'viem';
import { KmsSignatureError } from './errors.js';
import type { RecoveryParity } from './recoveryParity.js';

const N = secp256k1.Point.Fn.ORDER;
const HALF_N = N >> 1n;

/** A canonical Ethereum signature. */
export interface CanonicalSignature {
  r: Hex;
  s: Hex;
  yParity: 0 | 1;
}

/**
 * Finds yParity for a low-s signature: `compactSig` is r || s (64 bytes,
 * s <= n/2), `uncompressedPublicKey` the key's 65-byte SEC 1 point. Returns the
 * parity whose recovery gives exactly that key; returns undefined (or throws)
 * when neither does — the signature is then refused, never guessed. `hint`,
 * when given, is a parity to try first (e.g. the recovery id Symbolon's
 * custodian reports); it must still be verified, never trusted.
 */
export type ParityFunction = (compactSig: Uint8Array, digest: Uint8Array, uncompressedPublicKey: Uint8Array, hint?: 0 | 1) => 0 | 1 | undefined;

/** A key's parity finder: noble's RecoveryParity, or a ParityFunction bound to the key's public key. */
export type ParityFinder = RecoveryParity | ((compactSig: Uint8Array, digest: Uint8Array, hint?: 0 | 1) => 0 | 1 | undefined);

/**
 * Reads a strict DER ECDSA-Sig-Value (no long-form padding, no non-minimal or
 * negative integers, no trailing bytes; noble also refuses r or s outside
 * [1, n-1] here).
 * @throws {KmsSignatureError} (INVALID_DER) on anything else.
 */
export function decodeDerSignature(der: Uint8Array): { r: bigint; s: bigint } {
  try {
    const { r, s } = secp256k1.Signature.fromBytes(der, 'der');
    return { r, s };
  } catch (cause) {
    throw new KmsSignatureError('INVALID_DER', `KMS signature (${der.length} bytes) is not a strict DER secp256k1 signature.`, { cause });
  }
}

/**
 * The canonical signature of (r, s): range check, low-s, verified yParity.
 * `hint` is the signer's recovery id for (r, s) as given, before low-s.
 * @throws {KmsSignatureError} (SIGNATURE_OUT_OF_RANGE, SIGNER_MISMATCH) when r or s is out of range, or the signature is not by the key over `digest`.
 */
export function canonicalFromScalars(r: bigint, s: bigint, digest: Uint8Array, key: ParityFinder, hint?: 0 | 1): CanonicalSignature {
  if (r <= 0n || r >= N || s <= 0n || s >= N) throw new KmsSignatureError('SIGNATURE_OUT_OF_RANGE', 'KMS signature r and s must be in [1, n-1].');
  // EIP-2: (r, n - s) is the same ECDSA signature; nodes accept only s <= n/2.
  if (s > HALF_N) {
    s = N - s;
    // (r, n - s) recovers with the other parity.
    if (hint !== undefined) hint = hint === 0 ? 1 : 0;
  }
  // 32-byte big-endian hex of each, once: the result's r and s, and the r || s a parity function takes.
  const rHex = r.toString(16).padStart(64, '0');
  const sHex = s.toString(16).padStart(64, '0');
  let yParity: 0 | 1 | undefined;
  if (typeof key === 'function') {
    const compact = hexToBytes(`0x${rHex}${sHex}`);
    try {
      yParity = hint === undefined ? key(compact, digest) : key(compact, digest, hint);
    } catch (cause) {
      throw new KmsSignatureError('SIGNER_MISMATCH', "KMS signature does not recover to the key's address over this digest.", { cause });
    }
    if (yParity !== undefined && yParity !== 0 && yParity !== 1) throw new TypeError('parity function must return 0, 1 or undefined');
  } else {
    yParity = key.parity(digest, r, s);
  }
  if (yParity === undefined) throw new KmsSignatureError('SIGNER_MISMATCH', "KMS signature does not recover to the key's address over this digest.");
  return { r: `0x${rHex}`, s: `0x${sHex}`, yParity };
}

/**
 * @throws {KmsSignatureError} on malformed DER, r or s out of range, or a signature that is not by the key over `digest`.
 */
export function canonicalSignature(der: Uint8Array, digest: Uint8Array, key: ParityFinder, hint?: 0 | 1): CanonicalSignature {
  const { r, s } = decodeDerSignature(der);
  return canonicalFromScalars(r, s, digest, key, hint);
}
