/**
 * Signs an EIP-7702 authorization: keccak256(0x05 || rlp([chainId, address,
 * nonce])) through viem's hashAuthorization, returning the signed tuple with
 * yParity (no `v`), ready for a type-4 transaction's authorizationList.
 * chainId 0 authorizes on every chain, as the EIP allows.
 */
import { hashAuthorization } from 'viem/utils';
import { isAddress, type Address, type AuthorizationRequest, type SignedAuthorization } from 'viem';
import { UnsignablePayloadError } from './errors.js';
import { signHash } from './signHash.js';
import type { DigestSigner } from './types.js';

/**
 * @throws {UnsignablePayloadError} when the delegate address, chain id or nonce is invalid.
 * @throws {InvalidSignatureError | SignerMismatchError} when the signer's output is not a signature by `address`.
 */
export async function signAuthorization({
  authorization,
  signer,
  address,
}: {
  authorization: AuthorizationRequest;
  signer: DigestSigner;
  address: Address;
}): Promise<SignedAuthorization> {
  const target = authorization.address ?? authorization.contractAddress;
  if (typeof target !== 'string' || !isAddress(target, { strict: false })) {
    throw new UnsignablePayloadError('INVALID_AUTHORIZATION', 'authorization.address must be a 20-byte address.');
  }
  const { chainId, nonce } = authorization;
  if (!Number.isSafeInteger(chainId) || chainId < 0 || !Number.isSafeInteger(nonce) || nonce < 0) {
    throw new UnsignablePayloadError('INVALID_AUTHORIZATION', 'authorization.chainId and nonce must be non-negative integers.');
  }
  const digest = hashAuthorization({ address: target, chainId, nonce, to: 'bytes' });
  const { r, s, yParity } = await signHash({ digest, signer, address });
  return { address: target, chainId, nonce, r, s, yParity };
}
