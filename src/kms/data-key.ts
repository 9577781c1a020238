/**
 * The shared front half of GenerateDataKey and GenerateDataKeyWithoutPlaintext
 * (AWS KMS API Reference): read the request, resolve and authorize the
 * symmetric key, and work out the data key's length from exactly one of
 * KeySpec (AES_256 = 32 bytes, AES_128 = 16) or NumberOfBytes (1..1024), with
 * AWS's messages.
 */
import type { MaterialRow } from '../storage/keys.repository.js';
import { validation } from '../aws/errors.js';
import { authorize, loadMaterial, requireUsable, resolveKey } from './keys.js';
import { dryRunSucceeded, readDryRun } from './crypto-fields.js';
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
  const material = await loadMaterial(ctx, key);
  return { key, material, length, context };
}
