/**
 * Configuration of attestation (custodian side) and of the signer role, from
 * the environment (docs/signer.md):
 *
 *   SYMBOLON_ATTESTATION_TRUSTED_KEYS   platform keys the custodian trusts for `Recipient`:
 *                                       base64 DER SubjectPublicKeyInfo (P-384), comma or space separated
 *   SYMBOLON_ATTESTATION_TRUST_EMBEDDED 1 (default) / 0: trust the embedded platform key (symbolon_meta)
 *   SYMBOLON_ATTESTATION_SESSION_SECONDS how long a verified document may be presented again (default 60,
 *                                       0 to 300; 0: each document is good for one release)
 *   SYMBOLON_SIGNER_HOST / _PORT        where the signer listens with --role all
 *                                       (default: the server's host, port + 2; 0 when the server's port is 0)
 *   SYMBOLON_SIGNER_KMS_ENDPOINT        the custodian's URL (required with --role signer; the server itself with --role all)
 *   SYMBOLON_SIGNER_ROLE_ARN            role the signer assumes with each owner's token (STS AssumeRoleWithWebIdentity)
 *   SYMBOLON_SIGNER_ACCESS_KEY_ID / _SECRET_ACCESS_KEY
 *                                       fixed credentials instead (deployments without STS)
 *   SYMBOLON_PLATFORM_KEY_FILE          --role signer: the platform key file (default DIR/platform-attestation.key)
 *   SYMBOLON_SIGNER_CORS_ORIGINS        exact origins (the wallet frame's) whose pages may call /v1/sign, comma-separated;
 *                                       with --role all the server's own public origin is always added
 *   SYMBOLON_SIGNER_ATTESTATION_REFRESH_SECONDS
 *                                       --role signer: how long the signer reuses one attestation document
 *                                       (default 60, 0 to 300; 0: a fresh document per release). With --role all
 *                                       it follows SYMBOLON_ATTESTATION_SESSION_SECONDS.
 *   SYMBOLON_WALLET_EXPORT              enabled (default) / disabled: whether owners may export a split wallet's
 *                                       key through the signer (POST /v1/export, docs/signer.md "Export")
 *   SYMBOLON_SIGNER_IMAGE_SHA384        the signer measurement (96 hex) new master keys release split shares to
 *                                       (a Deny in their key policy); unset: any attested signer
 */
import { parseTrustedKeys } from '../attestation/platform-key.js';

export interface AttestationSettings {
  trustedKeys: string | undefined;
  trustEmbedded: boolean;
  /** How long a verified document may be presented again, seconds (0: single use). */
  sessionSeconds: number;
}

/** Default of SYMBOLON_ATTESTATION_SESSION_SECONDS and SYMBOLON_SIGNER_ATTESTATION_REFRESH_SECONDS. */
export const DEFAULT_ATTESTATION_SESSION_SECONDS = 60;
/** Never beyond a document's own freshness (5 minutes). */
const MAX_ATTESTATION_SESSION_SECONDS = 300;

function sessionSeconds(env: NodeJS.ProcessEnv, name: string): number {
  const text = env[name];
  if (text === undefined || text === '') return DEFAULT_ATTESTATION_SESSION_SECONDS;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n > MAX_ATTESTATION_SESSION_SECONDS)
    throw new RangeError(`${name} must be a whole number of seconds from 0 to ${MAX_ATTESTATION_SESSION_SECONDS}`);
  return n;
}

export interface SignerSettings {
  host: string | undefined;
  port: number | undefined;
  kmsEndpoint: string | undefined;
  roleArn: string | undefined;
  accessKeyId: string | undefined;
  secretAccessKey: string | undefined;
  platformKeyFile: string | undefined;
  /** How long the signer reuses one attestation document, seconds (0: a fresh document per release). */
  attestationRefreshSeconds: number;
  /** The signer measurement new master keys pin split-share releases to (lower-case hex), if configured. */
  imageSha384: string | undefined;
  /** Exact origins whose pages may call /v1/sign (CORS): the wallet frame's. */
  corsOrigins: string[];
  /** SYMBOLON_WALLET_EXPORT: whether the signer answers POST /v1/export. */
  exportEnabled: boolean;
}

/**
 * @throws {RangeError|PlatformKeyError} naming the variable that is wrong.
 */
export function attestationSettingsFromEnv(env: NodeJS.ProcessEnv): AttestationSettings {
  const trustedKeys = env.SYMBOLON_ATTESTATION_TRUSTED_KEYS || undefined;
  parseTrustedKeys(trustedKeys);
  const flag = env.SYMBOLON_ATTESTATION_TRUST_EMBEDDED;
  if (flag !== undefined && flag !== '' && flag !== '0' && flag !== '1') throw new RangeError('SYMBOLON_ATTESTATION_TRUST_EMBEDDED must be 0 or 1');
  return { trustedKeys, trustEmbedded: flag !== '0', sessionSeconds: sessionSeconds(env, 'SYMBOLON_ATTESTATION_SESSION_SECONDS') };
}

/**
 * @throws {RangeError} naming the variable that is wrong.
 */
export function signerSettingsFromEnv(env: NodeJS.ProcessEnv): SignerSettings {
  const portText = env.SYMBOLON_SIGNER_PORT;
  const port = portText ? Number(portText) : undefined;
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) throw new RangeError('SYMBOLON_SIGNER_PORT must be a port number');
  const kmsEndpoint = env.SYMBOLON_SIGNER_KMS_ENDPOINT || undefined;
  if (kmsEndpoint !== undefined && !/^https?:\/\/[^\s/?#]+\/?$/.test(kmsEndpoint))
    throw new RangeError('SYMBOLON_SIGNER_KMS_ENDPOINT must be an http(s) origin');
  const roleArn = env.SYMBOLON_SIGNER_ROLE_ARN || undefined;
  if (roleArn !== undefined && !/^arn:aws:iam::\d{12}:role\/[\w+=,.@\-/]+$/.test(roleArn))
    throw new RangeError('SYMBOLON_SIGNER_ROLE_ARN must be an IAM role ARN');
  const accessKeyId = env.SYMBOLON_SIGNER_ACCESS_KEY_ID || undefined;
  const secretAccessKey = env.SYMBOLON_SIGNER_SECRET_ACCESS_KEY || undefined;
  const imageSha384 = env.SYMBOLON_SIGNER_IMAGE_SHA384 || undefined;
  if (imageSha384 !== undefined && !/^[0-9a-fA-F]{96}$/.test(imageSha384))
    throw new RangeError("SYMBOLON_SIGNER_IMAGE_SHA384 must be 96 hexadecimal digits (the signer's ImageSha384)");
  const exportSetting = env.SYMBOLON_WALLET_EXPORT || 'enabled';
  if (exportSetting !== 'enabled' && exportSetting !== 'disabled') throw new RangeError('SYMBOLON_WALLET_EXPORT must be enabled or disabled');
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
    throw new RangeError('SYMBOLON_SIGNER_ACCESS_KEY_ID and SYMBOLON_SIGNER_SECRET_ACCESS_KEY must be set together');
  }
  return {
    host: env.SYMBOLON_SIGNER_HOST || undefined,
    port,
    kmsEndpoint: kmsEndpoint?.replace(/\/$/, ''),
    roleArn,
    accessKeyId,
    secretAccessKey,
    platformKeyFile: env.SYMBOLON_PLATFORM_KEY_FILE || undefined,
    attestationRefreshSeconds: sessionSeconds(env, 'SYMBOLON_SIGNER_ATTESTATION_REFRESH_SECONDS'),
    imageSha384: imageSha384?.toLowerCase(),
    corsOrigins: corsOrigins(env.SYMBOLON_SIGNER_CORS_ORIGINS),
    exportEnabled: exportSetting === 'enabled',
  };
}

/** Exact http(s) origins only: a wildcard or a path would let pages nobody named call the signer with a user's token. */
function corsOrigins(text: string | undefined): string[] {
  const list = (text ?? '')
    .split(',')
    .map((o) => o.trim())
    .filter((o) => o !== '');
  for (const o of list) {
    let origin: string | undefined;
    try {
      origin = new URL(o).origin;
    } catch {
      origin = undefined;
    }
    if (origin !== o || !/^https?:\/\//.test(o) || o.includes('*'))
      throw new RangeError('SYMBOLON_SIGNER_CORS_ORIGINS must list exact http(s) origins (scheme://host[:port]), comma-separated');
  }
  return list;
}
