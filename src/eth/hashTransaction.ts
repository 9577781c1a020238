/**
 * The digest a transaction's sender signs: keccak256 of its unsigned
 * serialization, through viem's serializers —
 *  - legacy without a chain id: rlp([nonce, gasPrice, gas, to, value, data]);
 *  - legacy with one (EIP-155): rlp([..., chainId, 0, 0]);
 *  - typed (EIP-2718): type || rlp([...fields]) for 0x01 (EIP-2930),
 *    0x02 (EIP-1559), 0x03 (EIP-4844, without blob sidecars), 0x04 (EIP-7702).
 * Any signature fields on the input are ignored, so a signed transaction
 * object hashes like its unsigned form.
 */
import { getTransactionType, hexToBytes, serializeTransaction, type TransactionSerializable } from 'viem';
import { keccak } from './keccak.js';
import { UnsignablePayloadError } from './errors.js';

/**
 * Returns the transaction without signature fields, refusing blob sidecars:
 * the signed EIP-4844 transaction commits to `blobVersionedHashes` only.
 * @throws {UnsignablePayloadError} when the transaction carries blobs, sidecars or KZG inputs.
 */
export function unsignedTransaction(transaction: TransactionSerializable): TransactionSerializable {
  if (typeof transaction !== 'object' || transaction === null) throw new TypeError('transaction must be an object');
  const { r: _r, s: _s, v: _v, yParity: _y, ...rest } = transaction as TransactionSerializable & Record<string, unknown>;
  for (const field of ['blobs', 'sidecars', 'kzg'] as const) {
    if ((rest as Record<string, unknown>)[field] !== undefined) {
      throw new UnsignablePayloadError(
        'BLOB_SIDECARS_UNSUPPORTED',
        `Field "${field}" is not signed: give blobVersionedHashes; sidecars travel beside the signed transaction.`,
      );
    }
  }
  const type = getTransactionType(rest as TransactionSerializable);
  // EIP-4844 and EIP-7702: `to` is a 20-byte address; neither may create a contract.
  if ((type === 'eip4844' || type === 'eip7702') && !rest.to) {
    throw new UnsignablePayloadError('MISSING_TO', `A ${type} transaction needs a "to" address.`);
  }
  return { ...rest, type } as TransactionSerializable;
}

/** A transaction checked, stripped of signature fields and hashed once, ready to sign (prepareTransaction). */
export interface PreparedTransaction {
  readonly unsigned: TransactionSerializable;
  /** keccak256 of `unsigned`'s serialization: the digest its sender signs. */
  readonly digest: Uint8Array;
}

/**
 * The unsigned form of a transaction and its signing digest, computed once —
 * for a caller that checks a transaction is signable before doing anything
 * costly, then signs it (signPreparedTransaction) without serializing and
 * hashing it again.
 * @throws as hashTransaction.
 */
export function prepareTransaction(transaction: TransactionSerializable): PreparedTransaction {
  const unsigned = unsignedTransaction(transaction);
  return Object.freeze({ unsigned, digest: keccak(hexToBytes(serializeTransaction(unsigned))) });
}

/**
 * The 32-byte signing digest of a transaction.
 * @throws {UnsignablePayloadError} when the transaction carries blob sidecars.
 * @throws viem's transaction errors (InvalidChainIdError, TipAboveFeeCapError, ...) on an invalid transaction.
 */
export function hashTransaction(transaction: TransactionSerializable): Uint8Array {
  return keccak(hexToBytes(serializeTransaction(unsignedTransaction(transaction))));
}
