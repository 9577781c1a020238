/**
 * Signs a transaction through a digest signer and returns its signed
 * serialization (what eth_sendRawTransaction takes): legacy with or without
 * EIP-155, EIP-2930, EIP-1559, EIP-4844 (without sidecars) and EIP-7702.
 * Encoding is viem's; `v` follows signatureV.ts.
 */
import { serializeTransaction, type Address, type Hex, type TransactionSerializable } from 'viem';
import { signHash } from './signHash.js';
import { signatureV } from './signatureV.js';
import { prepareTransaction, type PreparedTransaction } from './hashTransaction.js';
import type { DigestSigner } from './types.js';

/**
 * @throws {UnsignablePayloadError} when the transaction carries blob sidecars.
 * @throws viem's transaction errors on an invalid transaction (nothing is signed then).
 * @throws {InvalidSignatureError | SignerMismatchError} when the signer's output is not a signature by `address`.
 */
export async function signTransaction({
  transaction,
  signer,
  address,
}: {
  transaction: TransactionSerializable;
  signer: DigestSigner;
  address: Address;
}): Promise<Hex> {
  return signPreparedTransaction({ prepared: prepareTransaction(transaction), signer, address });
}

/**
 * Signs a transaction prepared (checked, stripped and hashed) by prepareTransaction: no second serialization and hash.
 * @throws viem's transaction errors when the signed form cannot be serialized.
 * @throws {InvalidSignatureError | SignerMismatchError} when the signer's output is not a signature by `address`.
 */
export async function signPreparedTransaction({
  prepared,
  signer,
  address,
}: {
  prepared: PreparedTransaction;
  signer: DigestSigner;
  address: Address;
}): Promise<Hex> {
  const { unsigned, digest } = prepared;
  const { r, s, yParity } = await signHash({ digest, signer, address });
  if (unsigned.type === 'legacy') {
    // viem's serializer has already refused chain id 0 above: a chain id here means EIP-155.
    const v = signatureV({ kind: 'legacy-transaction', yParity, chainId: unsigned.chainId });
    return serializeTransaction(unsigned, { r, s, v });
  }
  return serializeTransaction(unsigned, { r, s, yParity });
}
