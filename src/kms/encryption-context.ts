/**
 * The encryption context of Encrypt, Decrypt, ReEncrypt and GenerateDataKey*:
 * reading it from a request, and the policy condition keys AWS derives from it
 * (`kms:EncryptionContextKeys`, `kms:EncryptionContext:<key>`; AWS KMS
 * Developer Guide, "Condition keys for AWS KMS"). The context is not secret —
 * AWS logs it in CloudTrail — so it may go to the audit trail; it is bound to
 * the ciphertext as associated data by the keystore.
 */
import type { Input } from './input.js';

/**
 * Reads an encryption-context map field (`EncryptionContext`,
 * `SourceEncryptionContext`, `DestinationEncryptionContext`).
 * @throws {AwsError} SerializationException when it is not a map of strings.
 */
export function readEncryptionContext(input: Input, field = 'EncryptionContext'): Record<string, string> | undefined {
  return input.stringMap(field);
}

/**
 * The condition keys a key policy can test for this context. An absent context
 * gives an empty `kms:EncryptionContextKeys`, as in AWS.
 */
export function encryptionContextConditions(context: Record<string, string> | undefined): Record<string, string | string[]> {
  const conditions: Record<string, string | string[]> = Object.create(null);
  const entries = Object.entries(context ?? {});
  conditions['kms:EncryptionContextKeys'] = entries.map(([k]) => k);
  for (const [k, v] of entries) conditions[`kms:EncryptionContext:${k}`] = v;
  return conditions;
}
