/**
 * Signs a 32-byte digest through a digest signer (a KMS key, a signer
 * process, or a local key) and returns the canonical Ethereum signature
 * (low-s, yParity recovered against the signer's address).
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
  const signature = await signer(digest);
  return toRecoverableSignature({ digest, signature, address });
}
