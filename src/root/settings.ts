/**
 * Which root of trust wraps the store key (docs/root-of-trust.md), from the
 * environment: SYMBOLON_ROOT (file, the default, pkcs11, kms or shamir) and
 * each root's settings. The Shamir root has none: its shares arrive over
 * `symbolon operator unseal` (src/root/shamir-root.ts).
 */
import type { RootKind } from './root-of-trust.js';

/** A PKCS#11 token holding the root key (src/root/pkcs11-root.ts). */
export interface Pkcs11Settings {
  /** SYMBOLON_PKCS11_MODULE: the PKCS#11 library's path, e.g. /usr/lib/softhsm/libsofthsm2.so. */
  module: string;
  /** SYMBOLON_PKCS11_TOKEN_LABEL: the token's label. */
  tokenLabel: string;
  /** SYMBOLON_PKCS11_PIN: the user PIN. */
  pin: string;
  /** SYMBOLON_PKCS11_KEY_LABEL: the label of the AES-256 root key inside the token (generated there on a fresh store when absent). */
  keyLabel: string;
}

/** Another AWS-KMS-compatible endpoint holding the root key (src/root/kms-root.ts). */
export interface KmsRootSettings {
  /** SYMBOLON_ROOT_KMS_ENDPOINT: its URL; unset: AWS KMS in the region. */
  endpoint: string | undefined;
  /** SYMBOLON_ROOT_KMS_KEY_ID: the symmetric key there (id, ARN or alias). */
  keyId: string;
  /** SYMBOLON_ROOT_KMS_REGION (default AWS_REGION, else us-east-1). */
  region: string;
  /** SYMBOLON_ROOT_KMS_ACCESS_KEY_ID and _SECRET_ACCESS_KEY; unset: the AWS SDK's standard credential chain. */
  credentials: { accessKeyId: string; secretAccessKey: string } | undefined;
}

export interface RootSettings {
  kind: RootKind;
  pkcs11: Pkcs11Settings | undefined;
  kms: KmsRootSettings | undefined;
}

/** @throws {RangeError} on an unknown SYMBOLON_ROOT or a PKCS#11 root with settings missing. */
export function rootSettingsFromEnv(env: NodeJS.ProcessEnv): RootSettings {
  const kind = env.SYMBOLON_ROOT || 'file';
  if (kind === 'file') return { kind, pkcs11: undefined, kms: undefined };
  if (kind === 'kms') return { kind, pkcs11: undefined, kms: kmsRootFromEnv(env) };
  if (kind === 'shamir') return { kind, pkcs11: undefined, kms: undefined };
  if (kind !== 'pkcs11') throw new RangeError(`SYMBOLON_ROOT must be file, pkcs11, kms or shamir (got ${kind.slice(0, 20)})`);
  const missing = ['SYMBOLON_PKCS11_MODULE', 'SYMBOLON_PKCS11_TOKEN_LABEL', 'SYMBOLON_PKCS11_PIN'].filter((n) => !env[n]);
  if (missing.length > 0) throw new RangeError(`SYMBOLON_ROOT=pkcs11 needs ${missing.join(', ')}`);
  const keyLabel = env.SYMBOLON_PKCS11_KEY_LABEL || 'symbolon-root';
  if (keyLabel.length > 64) throw new RangeError('SYMBOLON_PKCS11_KEY_LABEL must be at most 64 characters');
  return {
    kind,
    pkcs11: { module: env.SYMBOLON_PKCS11_MODULE!, tokenLabel: env.SYMBOLON_PKCS11_TOKEN_LABEL!, pin: env.SYMBOLON_PKCS11_PIN!, keyLabel },
    kms: undefined,
  };
}

function kmsRootFromEnv(env: NodeJS.ProcessEnv): KmsRootSettings {
  const keyId = env.SYMBOLON_ROOT_KMS_KEY_ID;
  if (!keyId) throw new RangeError('SYMBOLON_ROOT=kms needs SYMBOLON_ROOT_KMS_KEY_ID');
  const endpoint = env.SYMBOLON_ROOT_KMS_ENDPOINT || undefined;
  if (endpoint !== undefined && !/^https?:\/\/[^\s/?#]+\/?$/.test(endpoint))
    throw new RangeError('SYMBOLON_ROOT_KMS_ENDPOINT must be an http(s) origin, e.g. https://kms.example.com');
  const region = env.SYMBOLON_ROOT_KMS_REGION || env.AWS_REGION || 'us-east-1';
  if (!/^[a-z]{2}(-[a-z]+)+-\d$/.test(region)) throw new RangeError('SYMBOLON_ROOT_KMS_REGION must look like an AWS region, e.g. us-east-1');
  const accessKeyId = env.SYMBOLON_ROOT_KMS_ACCESS_KEY_ID || undefined;
  const secretAccessKey = env.SYMBOLON_ROOT_KMS_SECRET_ACCESS_KEY || undefined;
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined))
    throw new RangeError('SYMBOLON_ROOT_KMS_ACCESS_KEY_ID and SYMBOLON_ROOT_KMS_SECRET_ACCESS_KEY must be set together');
  return { endpoint, keyId, region, credentials: accessKeyId ? { accessKeyId, secretAccessKey: secretAccessKey! } : undefined };
}
