/**
 * The shared front half of GenerateDataKey and GenerateDataKeyWithoutPlaintext
 * (AWS KMS API Reference): read the request, resolve and authorize the
 * symmetric key, and work out the data key's length from exactly one of
 * KeySpec (AES_256 = 32 bytes, AES_128 = 16) or NumberOfBytes (1..1024), with
 * AWS's messages; and the same front half of GenerateDataKeyPair and
 * GenerateDataKeyPairWithoutPlaintext, which take a KeyPairSpec instead.
 */
import type { MaterialRow } from '../storage/keys.repository.js';
import { unsupportedOperation, validation } from '../aws/errors.js';
import { authorize, loadMaterial, recordProtecting, requireUsable, resolveKey } from './keys.js';
import { attestRecipient, dryRunSucceeded, readDryRun, readRecipient } from './crypto-fields.js';
import type { AttestedRecipient } from '../attestation/recipient-attestation.js';
import type { DataKeyPairSpec } from './keystore.js';
import { encryptionContextConditions, readEncryptionContext } from './encryption-context.js';
import type { Input } from './input.js';
import type { OperationContext } from './context.js';
import type { KeyRecord } from './model.js';

const DATA_KEY_SPECS = ['AES_256', 'AES_128'] as const;
const DATA_KEY_BYTES: ReadonlyMap<(typeof DATA_KEY_SPECS)[number], number> = new Map([
  ['AES_256', 32],
  ['AES_128', 16],
]);

export interface DataKeyRequest {
  key: KeyRecord;
  material: MaterialRow;
  length: number;
  context: Record<string, string> | undefined;
}

/**
 * Reads and checks a GenerateDataKey* request up to the point of generating.
 * `beforeKey` runs after the fields are read and before the key is looked up
 * (GenerateDataKey uses it to refuse `Recipient`).
 * @throws {AwsError} ValidationException, NotFoundException, AccessDeniedException, DisabledException, KMSInvalidStateException, InvalidKeyUsageException, DryRunOperationException.
 */
export async function prepareDataKey(input: Input, ctx: OperationContext, operationName: string, beforeKey?: () => void): Promise<DataKeyRequest> {
  const keyId = input.string('KeyId', { required: true, min: 1, max: 2048 });
  const context = readEncryptionContext(input);
  const keySpec = input.enum('KeySpec', DATA_KEY_SPECS);
  const numberOfBytes = input.integer('NumberOfBytes', { min: 1, max: 1024 });
  const dryRun = readDryRun(input);
  if ((keySpec === undefined) === (numberOfBytes === undefined)) {
    throw validation('Please specify either number of bytes or key spec.');
  }
  const length = keySpec !== undefined ? (DATA_KEY_BYTES.get(keySpec) as number) : (numberOfBytes as number);
  beforeKey?.();
  if (context) ctx.audit.encryptionContext = context;

  const key = await resolveKey(ctx, keyId);
  await authorize(ctx, `kms:${operationName}`, key, {
    'kms:EncryptionAlgorithm': 'SYMMETRIC_DEFAULT',
    ...encryptionContextConditions(context),
  });
  requireUsable(key, 'ENCRYPT_DECRYPT', operationName);
  if (dryRun) dryRunSucceeded();
  await recordProtecting(ctx, key, operationName);
  const material = await loadMaterial(ctx, key);
  return { key, material, length, context };
}

/** AWS's DataKeyPairSpec enum (botocore's KMS model), for AWS's enum error message. */
export const AWS_DATA_KEY_PAIR_SPECS = [
  'RSA_2048',
  'RSA_3072',
  'RSA_4096',
  'ECC_NIST_P256',
  'ECC_NIST_P384',
  'ECC_NIST_P521',
  'ECC_SECG_P256K1',
  'SM2',
  'ECC_NIST_EDWARDS25519',
] as const;
/** The pair specs this custodian generates. */
export const DATA_KEY_PAIR_SPECS: readonly DataKeyPairSpec[] = ['ECC_SECG_P256K1', 'ECC_NIST_P256'];

export interface DataKeyPairRequest {
  key: KeyRecord;
  material: MaterialRow;
  spec: DataKeyPairSpec;
  context: Record<string, string> | undefined;
  /** The attested enclave key from `Recipient` (GenerateDataKeyPair only). */
  recipient: AttestedRecipient | undefined;
}

/**
 * Reads and checks a GenerateDataKeyPair* request up to the point of
 * generating: KeyPairSpec in AWS's enum (ValidationException) and one this
 * custodian generates (UnsupportedOperationException naming it), the
 * encryption context, `Recipient` when `allowRecipient` (verified before the
 * key is looked up, its measurements becoming condition keys), then the
 * symmetric key, authorized with `kms:DataKeyPairSpec`.
 * @throws {AwsError} ValidationException, UnsupportedOperationException, NotFoundException, AccessDeniedException, DisabledException, KMSInvalidStateException, InvalidKeyUsageException, DryRunOperationException.
 */
export async function prepareDataKeyPair(input: Input, ctx: OperationContext, operationName: string, allowRecipient: boolean): Promise<DataKeyPairRequest> {
  const keyId = input.string('KeyId', { required: true, min: 1, max: 2048 });
  const context = readEncryptionContext(input);
  const awsSpec = input.enum('KeyPairSpec', AWS_DATA_KEY_PAIR_SPECS, { required: true });
  const dryRun = readDryRun(input);
  const recipientField = allowRecipient ? readRecipient(input) : undefined;
  const spec = DATA_KEY_PAIR_SPECS.find((s) => s === awsSpec);
  if (!spec) {
    throw unsupportedOperation(`KeyPairSpec ${awsSpec} is not supported by this custodian. Supported: ${DATA_KEY_PAIR_SPECS.join(', ')}.`);
  }
  if (context) ctx.audit.encryptionContext = context;
  const recipient = recipientField ? attestRecipient(ctx, recipientField) : undefined;

  const key = await resolveKey(ctx, keyId);
  await authorize(ctx, `kms:${operationName}`, key, {
    'kms:EncryptionAlgorithm': 'SYMMETRIC_DEFAULT',
    'kms:DataKeyPairSpec': spec,
    ...encryptionContextConditions(context),
    ...recipient?.conditions,
  });
  requireUsable(key, 'ENCRYPT_DECRYPT', operationName);
  if (dryRun) dryRunSucceeded();
  await recordProtecting(ctx, key, operationName);
  const material = await loadMaterial(ctx, key);
  return { key, material, spec, context, recipient };
}
