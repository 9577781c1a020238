/**
 * Signs a 32-byte digest through a digest signer (a KMS key, a signer
 * process, or a local key) and returns the canonical Ethereum signature
 * (low-s, yParity recovered against the signer's address; a recovery id the
 * signer reports is tried first, and verified like the other).
 */
import type { Address } from 'viem';
import { abytes } from '../crypto/bytes.js';
import { toRecoverableSignature } from './toRecoverableSignature.js';
import type { DigestSigner, RecoverableSignature } from './types.js';

/**
 * @throws {RangeError} when `digest` is not 32 bytes.
 * @throws {InvalidSignatureError} when the signer returns a malformed signature.
 * @throws {SignerMismatchError} when the signature is not by `address` over `digest`.
 */
export async function signHash({ digest, signer, address }: { digest: Uint8Array; signer: DigestSigner; address: Address }): Promise<RecoverableSignature> {
  abytes(digest, 32, 'digest');
  const out = await signer(digest);
  if (out instanceof Uint8Array) return toRecoverableSignature({ digest, signature: out, address });
  if (typeof out !== 'object' || out === null) throw new TypeError('the digest signer must return a Uint8Array or { signature, recovery? }');
  return toRecoverableSignature({ digest, signature: out.signature, address, recoveryHint: out.recovery });
}
