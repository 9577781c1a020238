/**
 * Signs an EIP-191 personal message (version 0x45: "\x19Ethereum Signed
 * Message:\n" + length + message, hashed by viem's hashMessage) and returns
 * the 65-byte r || s || v signature with v = 27 + yParity.
 */
import { hashMessage, serializeSignature, type Address, type Hex, type SignableMessage } from 'viem';
import { signHash } from './signHash.js';
import type { DigestSigner } from './types.js';

/**
 * @throws {InvalidSignatureError | SignerMismatchError} when the signer's output is not a signature by `address`.
 */
export async function signMessage({ message, signer, address }: { message: SignableMessage; signer: DigestSigner; address: Address }): Promise<Hex> {
  const digest = hashMessage(message, 'bytes');
  const signature = await signHash({ digest, signer, address });
  return serializeSignature(signature);
}
