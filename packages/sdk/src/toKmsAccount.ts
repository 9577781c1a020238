/**
 * toKmsAccount: a viem local account whose key lives in a KMS. Signs
 * transactions (with the chain's serializer when a wallet client passes one),
 * EIP-191 messages, EIP-712 typed data, EIP-7702 authorizations and raw
 * hashes, with viem's own encodings — the same steps as viem's
 * privateKeyToAccount, the digest signed by KMS and made canonical here.
 */
import {
  hashMessage,
  hashTypedData,
  hexToBytes,
  keccak256,
  serializeSignature,
  serializeTransaction,
  type Hex,
  type LocalAccount,
  type SerializeTransactionFn,
  type TransactionSerializable,
} from 'viem';
import { toAccount } from 'viem/accounts';
import { hashAuthorization } from 'viem/utils';
import { KmsKey, type KmsClientInput } from './kmsKey.js';
import { assertTypedDataWithinLimits } from './typedDataLimits.js';
import type { RetryOptions } from './retry.js';
import type { ParityFunction } from './canonicalSignature.js';

export interface ToKmsAccountOptions {
  client: KmsClientInput;
  /** Key id, key ARN, alias name or alias ARN of an ECC_SECG_P256K1 / SIGN_VERIFY key. */
  keyId: string;
  retry?: RetryOptions;
  /** yParity finder in place of noble's (default): e.g. `nativeParity` from `@symbolon/sdk/node`. */
  parity?: ParityFunction;
}

/** A viem LocalAccount over a KMS key, with the key id. */
export type KmsAccount = LocalAccount<'kms'> & { keyId: string; kmsKey: KmsKey };

/**
 * Fetches the key's public key (once) and returns a viem account for it.
 * @throws {KmsKeyError} when the key is not a secp256k1 signing key; KMS errors as the AWS SDK raises them.
 */
export async function toKmsAccount(options: ToKmsAccountOptions | { key: KmsKey }): Promise<KmsAccount> {
  const key =
    'key' in options
      ? options.key
      : new KmsKey({
          client: options.client,
          keyId: options.keyId,
          ...(options.retry ? { retry: options.retry } : {}),
          ...(options.parity ? { parity: options.parity } : {}),
        });
  const { address, publicKey } = await key.getPublicKey();
  const signHash = async (hash: Hex) => key.signDigest(hexToBytes(hash));

  const account = toAccount({
    address,
    async sign({ hash }) {
      return serializeSignature(await signHash(hash));
    },
    async signMessage({ message }) {
      return serializeSignature(await signHash(hashMessage(message)));
    },
    async signTypedData(typedData) {
      assertTypedDataWithinLimits(typedData);
      return serializeSignature(await signHash(hashTypedData(typedData as never)));
    },
    async signAuthorization(authorization) {
      const target = authorization.address ?? authorization.contractAddress;
      const { r, s, yParity } = await signHash(hashAuthorization({ address: target, chainId: authorization.chainId, nonce: authorization.nonce }));
      return { address: target, chainId: authorization.chainId, nonce: authorization.nonce, r, s, yParity };
    },
    async signTransaction(transaction, { serializer = serializeTransaction as SerializeTransactionFn<TransactionSerializable> } = {}) {
      // As viem's privateKeyToAccount: a blob transaction's signing hash excludes its sidecars.
      const signable = (transaction as TransactionSerializable).type === 'eip4844' ? { ...transaction, sidecars: false } : transaction;
      const { r, s, yParity } = await signHash(keccak256(await serializer(signable as never)));
      return serializer(transaction as never, { r, s, yParity, v: 27n + BigInt(yParity) });
    },
  });
  return { ...account, publicKey, source: 'kms', keyId: key.keyId, kmsKey: key } as KmsAccount;
}
