/**
 * Signs EIP-712 typed data (eth_signTypedData_v4: arrays and nested structs,
 * encoded and hashed by viem's hashTypedData) and returns the 65-byte
 * r || s || v signature with v = 27 + yParity (no EIP-155: the chain id is in
 * the domain).
 */
import { hashTypedData, hexToBytes, serializeSignature, type Address, type Hex, type TypedData, type TypedDataDefinition } from 'viem';
import { signHash } from './signHash.js';
import { checkTypedDataLimits } from '../../packages/sdk/src/checkTypedDataLimits.js';
import type { DigestSigner } from './types.js';

/**
 * @throws {TypedDataLimitError} (a RangeError) over the bounds of packages/sdk/src/checkTypedDataLimits.ts, checked before hashing.
 * @throws viem's typed-data errors on data that does not match its types (nothing is signed then).
 * @throws {InvalidSignatureError | SignerMismatchError} when the signer's output is not a signature by `address`.
 */
export async function signTypedData<const typedData extends TypedData | Record<string, unknown>, primaryType extends keyof typedData | 'EIP712Domain'>({
  typedData,
  signer,
  address,
}: {
  typedData: TypedDataDefinition<typedData, primaryType>;
  signer: DigestSigner;
  address: Address;
}): Promise<Hex> {
  checkTypedDataLimits(typedData);
  const digest = hexToBytes(hashTypedData(typedData as TypedDataDefinition));
  const signature = await signHash({ digest, signer, address });
  return serializeSignature(signature);
}
