/**
 * Turns a KMS ECDSA signature (DER ECDSA-Sig-Value, RFC 3279) into a
 * canonical Ethereum signature: strict DER (noble's decoder refuses long-form
 * padding, non-minimal integers and trailing bytes), 0 < r, s < n, low-s
 * (EIP-2: s > n/2 becomes n - s, as AWS KMS returns either), and the yParity
 * that recovers the key's own public key — found by noble (RecoveryParity,
 * browser-safe) or by a pluggable {@link ParityFunction} (e.g. libsecp256k1
 * through `@symbolon/sdk/node`). A recovery-id hint (Symbolon's custodian
 * sends one) only orders the trials of a ParityFunction: it saves one
 * recovery when right and costs nothing when wrong.
 */
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { numberToHex, type Hex } from 'viem';
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

function compact(r: bigint, s: bigint): Uint8Array {
  const out = new Uint8Array(64);
  for (let i = 31; i >= 0; i--, r >>= 8n, s >>= 8n) {
    out[i] = Number(r & 0xffn);
    out[32 + i] = Number(s & 0xffn);
  }
  return out;
}

/**
 * @throws {KmsSignatureError} on malformed DER, r or s out of range, or a signature that is not by the key over `digest`.
 */
export function canonicalSignature(der: Uint8Array, digest: Uint8Array, key: ParityFinder, hint?: 0 | 1): CanonicalSignature {
  let r: bigint;
  let s: bigint;
  try {
    ({ r, s } = secp256k1.Signature.fromBytes(der, 'der'));
  } catch (cause) {
    throw new KmsSignatureError('INVALID_DER', `KMS signature (${der.length} bytes) is not a strict DER secp256k1 signature.`, { cause });
  }
  if (r <= 0n || r >= N || s <= 0n || s >= N) throw new KmsSignatureError('SIGNATURE_OUT_OF_RANGE', 'KMS signature r and s must be in [1, n-1].');
  // EIP-2: (r, n - s) is the same ECDSA signature; nodes accept only s <= n/2.
  if (s > HALF_N) {
    s = N - s;
    // (r, n - s) recovers with the other parity.
    if (hint !== undefined) hint = hint === 0 ? 1 : 0;
  }
  let yParity: 0 | 1 | undefined;
  if (typeof key === 'function') {
    try {
      yParity = hint === undefined ? key(compact(r, s), digest) : key(compact(r, s), digest, hint);
    } catch (cause) {
      throw new KmsSignatureError('SIGNER_MISMATCH', "KMS signature does not recover to the key's address over this digest.", { cause });
    }
    if (yParity !== undefined && yParity !== 0 && yParity !== 1) throw new TypeError('parity function must return 0, 1 or undefined');
  } else {
    yParity = key.parity(digest, r, s);
  }
  if (yParity === undefined) throw new KmsSignatureError('SIGNER_MISMATCH', "KMS signature does not recover to the key's address over this digest.");
  return { r: numberToHex(r, { size: 32 }), s: numberToHex(s, { size: 32 }), yParity };
}
