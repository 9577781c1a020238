/**
 * @symbolon/sdk — Ethereum signing with keys held in a KMS (Symbolon's
 * custodian or AWS KMS): an ethers v6 Signer, a viem account, a wallet manager,
 * and the pieces they share. Browser-safe: no Node-only APIs.
 *
 * The export list is snapshot-tested (packages/sdk/test/exports.test.ts): a change here is
 * a change to the public API.
 */
export { KmsSigner, type KmsSignerOptions } from './KmsSigner.js';
export { toKmsAccount, type KmsAccount, type ToKmsAccountOptions } from './toKmsAccount.js';
export {
  KmsWalletManager,
  type CreateWalletOptions,
  type KmsWallet,
  type KmsWalletListing,
  type KmsWalletManagerOptions,
  type ListWalletsOptions,
} from './KmsWalletManager.js';
export { KmsKey, toKmsClient, type KmsClientInput, type KmsKeyOptions, type KmsPublicKey } from './kmsKey.js';
export { canonicalSignature, type CanonicalSignature, type ParityFunction, type ParityFinder } from './canonicalSignature.js';
export {
  createKmsHttpClient,
  type KmsHttpClient,
  type KmsHttpClientOptions,
  type KmsHttpCredentials,
  type KmsFetch,
  type KmsFetchResponse,
  type SigV4Hashes,
} from './kmsHttpClient.js';
export { RecoveryParity } from './recoveryParity.js';
export { pointFromSpki } from './spki.js';
export { withThrottlingRetry, isThrottlingError, type RetryOptions } from './retry.js';
export { SymbolonSdkError, KmsKeyError, KmsSignatureError, UnsignableError } from './errors.js';
// The envelope custody mode on the device (docs/sts.md, docs/wallet-api.md).
export {
  EnvelopeWalletClient,
  EnvelopeWallet,
  type EnvelopeWalletClientOptions,
  type EnvelopeAccount,
  type TokenSource,
} from './envelope/EnvelopeWalletClient.js';
export { EnvelopeKey, type EnvelopeCiphertexts } from './envelope/EnvelopeKey.js';
export { OidcSession, startEmailLogin, verifyEmailCode, type TokenResponse } from './envelope/emailLogin.js';
export { assumeRoleWithWebIdentity, type AssumeRoleWithWebIdentityOptions, type StsCredentials } from './envelope/assumeRoleWithWebIdentity.js';
export {
  linkWebIdentity,
  unlinkWebIdentity,
  listWebIdentityLinks,
  type WebIdentity,
  type WebIdentityUser,
  type WebIdentityLinkOptions,
} from './envelope/webIdentityLinks.js';
export { EnvelopeError, StsError, WalletApiError } from './envelope/errors.js';
export { verifyMasterKey, roleAccountId, type MasterKeyOwner, type VerifiedMasterKey } from './envelope/verifyMasterKey.js';
export { masterKeyPolicy } from './envelope/masterKeyPolicy.js';
// The split custody mode on the device (docs/wallet-api.md, docs/signer.md).
export {
  SplitWalletClient,
  type SplitWalletClientOptions,
  type SplitWalletRecord,
  type SplitSignPayload,
  type SigningPolicyPreview,
  type SplitSignResult,
  type RotationResult,
} from './split/SplitWalletClient.js';
export { SplitError } from './split/errors.js';
export { memoryDeviceKeyStore, PASSKEY_PRF_INPUT, type DeviceKeyStore, type PasskeyPrf, type PasskeyPrfResult } from './split/deviceShare.js';
