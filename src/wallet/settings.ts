/**
 * The wallet service's settings, read by src/config.ts from the environment.
 */

/** How the wallet service reaches the custodian (docs/wallet-api.md). */
export interface WalletSettings {
  /** SYMBOLON_WALLET_KMS_ENDPOINT: the custodian's KMS endpoint; unset: this server. */
  kmsEndpoint: string | undefined;
  /** SYMBOLON_WALLET_KMS_ACCESS_KEY_ID / _SECRET_ACCESS_KEY: the wallet service's credentials; unset: the admin credential. */
  kmsAccessKeyId: string | undefined;
  kmsSecretAccessKey: string | undefined;
  /** SYMBOLON_WALLET_KMS_PRINCIPAL_ARN: who those credentials are; unset: looked up in this server's store. */
  kmsPrincipalArn: string | undefined;
}
