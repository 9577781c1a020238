/**
 * Types shared by the signing functions in src/eth.
 */
import type { Hex } from 'viem';

/**
 * Signs a 32-byte digest with one secp256k1 key and returns either a DER
 * ECDSA-Sig-Value (as KMS `Sign` returns it) or a 64-byte r || s. It never sees
 * the payload, only its digest.
 */
export type DigestSigner = (digest: Uint8Array) => Promise<Uint8Array>;

/** A canonical Ethereum signature: low-s (EIP-2), with the recovery parity. */
export interface RecoverableSignature {
  r: Hex;
  s: Hex;
  yParity: 0 | 1;
}
