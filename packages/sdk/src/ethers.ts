/**
 * @symbolon/sdk/ethers — an ethers v6 Signer over a KMS key (KmsSigner) and
 * the wallet manager (KmsWalletManager), with the KMS clients they sign
 * through. Needs ethers, viem and @aws-sdk/client-kms. Browser-safe.
 */
export { KmsSigner, type KmsSignerOptions } from './KmsSigner.js';
export {
  KmsWalletManager,
  type CreateWalletOptions,
  type KmsWallet,
  type KmsWalletListing,
  type KmsWalletManagerOptions,
  type ListWalletsOptions,
} from './KmsWalletManager.js';
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
