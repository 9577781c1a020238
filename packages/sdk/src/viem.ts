/**
 * @symbolon/sdk/viem — a viem account over a KMS key (toKmsAccount), with the
 * KMS clients it signs through. Needs viem and @aws-sdk/client-kms, never
 * ethers: a viem-only project imports from here (the main entry also loads
 * KmsSigner and KmsWalletManager, which import ethers). Browser-safe.
 */
export { toKmsAccount, type KmsAccount, type ToKmsAccountOptions } from './toKmsAccount.js';
export { KmsKey, toKmsClient, type KmsClientInput, type KmsKeyOptions, type KmsPublicKey } from './kmsKey.js';
export {
  createKmsHttpClient,
  type KmsHttpClient,
  type KmsHttpClientOptions,
  type KmsHttpCredentials,
  type KmsFetch,
  type KmsFetchResponse,
  type SigV4Hashes,
} from './kmsHttpClient.js';
export { withThrottlingRetry, isThrottlingError, type RetryOptions } from './retry.js';
export { SymbolonSdkError, KmsKeyError, KmsSignatureError, UnsignableError } from './errors.js';
