/**
 * Every operation of AWS's KMS API (botocore's KMS service model,
 * `service-2.json`, and the AWS KMS API Reference), by wire name, and why
 * Symbolon does not offer the ones it does not. The endpoint serves what the
 * registry (operations/registry.ts) holds; any other name from this list
 * answers UnsupportedOperationException naming the operation and the reason,
 * so a tool can tell "not offered" from "no such operation" (a name outside
 * this list stays UnknownOperationException, as AWS answers).
 * test/kms-operations.test.ts keeps the list equal to botocore's model.
 */
import { unsupportedOperation, type AwsError } from '../aws/errors.js';

/** The operations of AWS's KMS API (54, as botocore's model lists them). */
export const AWS_KMS_OPERATIONS: readonly string[] = [
  'CancelKeyDeletion',
  'ConnectCustomKeyStore',
  'CreateAlias',
  'CreateCustomKeyStore',
  'CreateGrant',
  'CreateKey',
  'Decrypt',
  'DeleteAlias',
  'DeleteCustomKeyStore',
  'DeleteImportedKeyMaterial',
  'DeriveSharedSecret',
  'DescribeCustomKeyStores',
  'DescribeKey',
  'DisableKey',
  'DisableKeyRotation',
  'DisconnectCustomKeyStore',
  'EnableKey',
  'EnableKeyRotation',
  'Encrypt',
  'GenerateDataKey',
  'GenerateDataKeyPair',
  'GenerateDataKeyPairWithoutPlaintext',
  'GenerateDataKeyWithoutPlaintext',
  'GenerateMac',
  'GenerateRandom',
  'GetKeyLastUsage',
  'GetKeyPolicy',
  'GetKeyRotationStatus',
  'GetParametersForImport',
  'GetPublicKey',
  'ImportKeyMaterial',
  'ListAliases',
  'ListGrants',
  'ListKeyPolicies',
  'ListKeyRotations',
  'ListKeys',
  'ListResourceTags',
  'ListRetirableGrants',
  'PutKeyPolicy',
  'ReEncrypt',
  'ReplicateKey',
  'RetireGrant',
  'RevokeGrant',
  'RotateKeyOnDemand',
  'ScheduleKeyDeletion',
  'Sign',
  'TagResource',
  'UntagResource',
  'UpdateAlias',
  'UpdateCustomKeyStore',
  'UpdateKeyDescription',
  'UpdatePrimaryRegion',
  'Verify',
  'VerifyMac',
];

const CUSTOM_KEY_STORES = 'Symbolon keeps every key in its own store under its root of trust; custom key stores (CloudHSM, external) are not offered.';
const IMPORTED_MATERIAL = 'key material is always generated inside Symbolon; importing key material is not offered.';
const MULTI_REGION = 'multi-Region keys are not offered.';

/** Why each operation Symbolon does not serve is not offered. */
const REASONS: ReadonlyMap<string, string> = new Map([
  ['ConnectCustomKeyStore', CUSTOM_KEY_STORES],
  ['CreateCustomKeyStore', CUSTOM_KEY_STORES],
  ['DeleteCustomKeyStore', CUSTOM_KEY_STORES],
  ['DescribeCustomKeyStores', CUSTOM_KEY_STORES],
  ['DisconnectCustomKeyStore', CUSTOM_KEY_STORES],
  ['UpdateCustomKeyStore', CUSTOM_KEY_STORES],
  ['GetParametersForImport', IMPORTED_MATERIAL],
  ['ImportKeyMaterial', IMPORTED_MATERIAL],
  ['DeleteImportedKeyMaterial', IMPORTED_MATERIAL],
  ['ReplicateKey', MULTI_REGION],
  ['UpdatePrimaryRegion', MULTI_REGION],
  ['DeriveSharedSecret', 'KEY_AGREEMENT keys (ECDH) are not offered.'],
  ['GetKeyLastUsage', 'key usage tracking is not offered; the audit log (symbolon audit query) records every use of a key.'],
]);

const AWS_NAMES: ReadonlySet<string> = new Set(AWS_KMS_OPERATIONS);

/**
 * The answer to an AWS KMS operation the registry does not serve, or
 * undefined when `name` is no KMS operation at all (UnknownOperationException).
 */
export function unsupportedKmsOperation(name: string): AwsError | undefined {
  if (!AWS_NAMES.has(name)) return undefined;
  const why = REASONS.get(name) ?? 'it is not offered by this custodian.';
  return unsupportedOperation(`${name} is not supported by Symbolon: ${why}`);
}
