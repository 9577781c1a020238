/**
 * The custodian's vocabulary: key specs, usages, states and algorithms as AWS
 * names them, the key record, and ARN helpers. The string tables here are the
 * only way a wire string becomes an enum.
 */

export const KEY_SPECS = ['SYMMETRIC_DEFAULT', 'ECC_SECG_P256K1', 'ECC_NIST_P256', 'HMAC_224', 'HMAC_256', 'HMAC_384', 'HMAC_512'] as const;
export type KeySpec = (typeof KEY_SPECS)[number];
/** Every spec AWS knows, for AWS's enum error message; only KEY_SPECS are implemented. */
export const AWS_KEY_SPECS = [
  'RSA_2048',
  'RSA_3072',
  'RSA_4096',
  'ECC_NIST_P256',
  'ECC_NIST_P384',
  'ECC_NIST_P521',
  'ECC_SECG_P256K1',
  'SYMMETRIC_DEFAULT',
  'HMAC_224',
  'HMAC_256',
  'HMAC_384',
  'HMAC_512',
  'SM2',
] as const;

export const KEY_USAGES = ['ENCRYPT_DECRYPT', 'SIGN_VERIFY', 'GENERATE_VERIFY_MAC'] as const;
export type KeyUsage = (typeof KEY_USAGES)[number];
export const AWS_KEY_USAGES = ['SIGN_VERIFY', 'ENCRYPT_DECRYPT', 'GENERATE_VERIFY_MAC', 'KEY_AGREEMENT'] as const;

export type KeyState = 'Enabled' | 'Disabled' | 'PendingDeletion';

/** Which usage each implemented spec supports (AWS's pairing). */
export const USAGE_FOR_SPEC: Record<KeySpec, KeyUsage> = {
  SYMMETRIC_DEFAULT: 'ENCRYPT_DECRYPT',
  ECC_SECG_P256K1: 'SIGN_VERIFY',
  ECC_NIST_P256: 'SIGN_VERIFY',
  HMAC_224: 'GENERATE_VERIFY_MAC',
  HMAC_256: 'GENERATE_VERIFY_MAC',
  HMAC_384: 'GENERATE_VERIFY_MAC',
  HMAC_512: 'GENERATE_VERIFY_MAC',
};

export const SIGNING_ALGORITHMS = ['ECDSA_SHA_256'] as const;
export const AWS_SIGNING_ALGORITHMS = [
  'RSASSA_PSS_SHA_256',
  'RSASSA_PSS_SHA_384',
  'RSASSA_PSS_SHA_512',
  'RSASSA_PKCS1_V1_5_SHA_256',
  'RSASSA_PKCS1_V1_5_SHA_384',
  'RSASSA_PKCS1_V1_5_SHA_512',
  'ECDSA_SHA_256',
  'ECDSA_SHA_384',
  'ECDSA_SHA_512',
  'SM2DSA',
] as const;
export const MESSAGE_TYPES = ['RAW', 'DIGEST'] as const;
export const ENCRYPTION_ALGORITHMS = ['SYMMETRIC_DEFAULT'] as const;
export const AWS_ENCRYPTION_ALGORITHMS = ['SYMMETRIC_DEFAULT', 'RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256', 'SM2PKE'] as const;
export const AWS_MAC_ALGORITHMS = ['HMAC_SHA_224', 'HMAC_SHA_256', 'HMAC_SHA_384', 'HMAC_SHA_512'] as const;
export type MacAlgorithm = (typeof AWS_MAC_ALGORITHMS)[number];
export type HmacKeySpec = 'HMAC_224' | 'HMAC_256' | 'HMAC_384' | 'HMAC_512';

/**
 * AWS's HMAC key specs (KMS Developer Guide, "HMAC keys in AWS KMS"): each
 * takes exactly one MAC algorithm, and its key material is as long as the
 * hash's output (224, 256, 384 or 512 bits). `hash` is node:crypto's name.
 */
export const HMAC_SPECS: ReadonlyMap<HmacKeySpec, { algorithm: MacAlgorithm; hash: string; keyBytes: number }> = new Map([
  ['HMAC_224', { algorithm: 'HMAC_SHA_224', hash: 'sha224', keyBytes: 28 }],
  ['HMAC_256', { algorithm: 'HMAC_SHA_256', hash: 'sha256', keyBytes: 32 }],
  ['HMAC_384', { algorithm: 'HMAC_SHA_384', hash: 'sha384', keyBytes: 48 }],
  ['HMAC_512', { algorithm: 'HMAC_SHA_512', hash: 'sha512', keyBytes: 64 }],
] as const);

/** The HMAC parameters of `spec`, or undefined for a key that is no HMAC key. */
export function hmacSpec(spec: KeySpec): { algorithm: MacAlgorithm; hash: string; keyBytes: number } | undefined {
  return HMAC_SPECS.get(spec as HmacKeySpec);
}

export interface KeyRecord {
  keyId: string;
  accountId: string;
  region: string;
  keySpec: KeySpec;
  keyUsage: KeyUsage;
  keyState: KeyState;
  origin: 'AWS_KMS';
  description: string;
  policy: string;
  createdAt: number;
  deletionAt: number | null;
  pendingWindowDays: number | null;
  rotationEnabled: boolean;
  rotationPeriodDays: number | null;
  nextRotationAt: number | null;
  currentVersion: number;
  revision: number;
  /** When the key first made a ciphertext (src/kms/keys.ts recordProtecting); null: never. */
  firstProtectedAt: number | null;
}

/** The key's ARN. */
export function keyArn(key: Pick<KeyRecord, 'region' | 'accountId' | 'keyId'>): string {
  return `arn:aws:kms:${key.region}:${key.accountId}:key/${key.keyId}`;
}

/** An alias's ARN. */
export function aliasArn(region: string, accountId: string, aliasName: string): string {
  return `arn:aws:kms:${region}:${accountId}:${aliasName}`;
}

export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The AWS KeyMetadata structure for DescribeKey, CreateKey and friends. */
export function keyMetadata(key: KeyRecord): Record<string, unknown> {
  const meta: Record<string, unknown> = {
    AWSAccountId: key.accountId,
    KeyId: key.keyId,
    Arn: keyArn(key),
    CreationDate: key.createdAt / 1000,
    Enabled: key.keyState === 'Enabled',
    Description: key.description,
    KeyUsage: key.keyUsage,
    KeyState: key.keyState,
    Origin: key.origin,
    KeyManager: 'CUSTOMER',
    CustomerMasterKeySpec: key.keySpec,
    KeySpec: key.keySpec,
    MultiRegion: false,
  };
  if (key.keyState === 'PendingDeletion' && key.deletionAt !== null) {
    meta.DeletionDate = key.deletionAt / 1000;
    meta.PendingDeletionWindowInDays = key.pendingWindowDays;
  }
  if (key.keyUsage === 'ENCRYPT_DECRYPT') meta.EncryptionAlgorithms = ['SYMMETRIC_DEFAULT'];
  if (key.keyUsage === 'SIGN_VERIFY') meta.SigningAlgorithms = ['ECDSA_SHA_256'];
  const hmac = hmacSpec(key.keySpec);
  if (hmac) meta.MacAlgorithms = [hmac.algorithm];
  return meta;
}
