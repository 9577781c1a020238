/**
 * What the platform hands the signer process when it launches it (over the
 * launch channel, not the environment, so credentials never appear in
 * /proc/<pid>/environ): where to listen, the custodian's endpoint, how to get
 * credentials for it, and which token issuers to trust. Nothing here opens a
 * database or the wallet store: the signer has neither.
 */
import type { TrustedIssuer } from '../identity/trusted-issuer.js';

export type SignerCredentialsConfig =
  | { mode: 'web-identity'; roleArn: string }
  | { mode: 'static'; accessKeyId: string; secretAccessKey: string }
  /** No way to reach the custodian: every release fails with `unavailable`. */
  | { mode: 'none' };

export interface SignerChildConfig {
  host: string;
  port: number;
  logLevel: string;
  region: string;
  /** The custodian (KMS and STS) endpoint, an http(s) origin. */
  kmsEndpoint: string;
  credentials: SignerCredentialsConfig;
  /** Trusted token issuers (same shape as SYMBOLON_OIDC_ISSUERS entries). */
  issuers: TrustedIssuer[];
  /** Allowed clock skew for token checks, seconds. */
  clockToleranceSec?: number;
  /** How long one RSA session key pair is used (ms). */
  sessionLifetimeMs?: number;
  /** How long one attestation document is reused (ms; 0: a fresh document per release; default 60 s). */
  attestationRefreshMs?: number;
  /** Exact origins whose pages may call POST /v1/sign (CORS): the wallet frame's. */
  corsOrigins?: string[];
  /** Whether owners may export their key (POST /v1/export; SYMBOLON_WALLET_EXPORT, default true). */
  exportEnabled?: boolean;
}

/** Messages on the launch channel. */
export type PlatformToSigner =
  | { type: 'config'; config: SignerChildConfig }
  | { type: 'attestation'; id: number; document: Uint8Array }
  | { type: 'attestation-error'; id: number; message: string };

export type SignerToPlatform =
  | { type: 'ready'; port: number }
  /** `userData`: the release purpose statement (src/attestation/release-purpose.ts), for an export. */
  | { type: 'attest'; id: number; publicKey: Uint8Array; nonce: Uint8Array; userData?: Uint8Array }
  | { type: 'fatal'; message: string };
