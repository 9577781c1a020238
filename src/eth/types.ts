/**
 * Types shared by the signing functions in src/eth.
 */
import type { Hex } from 'viem';

/**
 * A signature with the recovery id its signer reported (libsecp256k1's
 * `recid`, or Symbolon's x-symbolon-recovery-id): a hint for which parity to
 * try first, never trusted — the parity is still verified by recovery.
 */
export interface HintedSignature {
  /** DER ECDSA-Sig-Value or 64-byte r || s, as a bare DigestSigner result. */
  signature: Uint8Array;
  /** The recovery id for `signature` as given (0 or 1; anything else is ignored). */
  recovery?: number | undefined;
}

/**
 * Signs a 32-byte digest with one secp256k1 key and returns either a DER
 * ECDSA-Sig-Value (as KMS `Sign` returns it) or a 64-byte r || s — bare, or
 * with the signer's recovery id as a hint (local libsecp256k1 signers have it
 * for free). It never sees the payload, only its digest.
 */
export type DigestSigner = (digest: Uint8Array) => Promise<Uint8Array | HintedSignature>;

/** A canonical Ethereum signature: low-s (EIP-2), with the recovery parity. */
export interface RecoverableSignature {
  r: Hex;
  s: Hex;
  yParity: 0 | 1;
}
