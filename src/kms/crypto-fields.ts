/**
 * Request fields and checks shared by the cryptographic KMS operations (AWS
 * KMS API Reference: Encrypt, Decrypt, ReEncrypt, GenerateDataKey*,
 * GenerateMac, VerifyMac, Verify):
 *  - sensitive blobs (`Plaintext`, `Message`), whose constraint messages AWS
 *    words without a value ("Value at 'plaintext' failed to satisfy …");
 *  - the encryption algorithm, which on a symmetric key can only be
 *    SYMMETRIC_DEFAULT, and the MAC algorithm, the one of the key's HMAC spec
 *    (HMAC_SHA_224 on HMAC_224, … HMAC_SHA_512 on HMAC_512);
 *  - `DryRun`;
 *  - `Recipient` (AWS Nitro Enclaves attestation, KMS Developer Guide
 *    "Cryptographic attestation support in AWS KMS"): Decrypt verifies the
 *    attestation document (src/attestation) and returns the result
 *    encrypted to the attested key; the operations that do not support it
 *    refuse it rather than silently return plaintext to a caller that asked
 *    for it to be encrypted to an enclave.
 */
import { AwsError, invalidKeyUsage, unsupportedOperation, validation } from '../aws/errors.js';
import type { Input } from './input.js';
import { AWS_ENCRYPTION_ALGORITHMS, hmacSpec, type KeyRecord, type MacAlgorithm } from './model.js';
import type { OperationContext } from './context.js';
import { AttestationError } from '../attestation/errors.js';
import type { AttestedRecipient } from '../attestation/recipient-attestation.js';
import { readGrantTokens } from './grants.js';

/**
 * Reads a base64 blob that AWS models as sensitive: a length outside
 * [min, max] is a ValidationException that never shows the value.
 * @throws {AwsError} SerializationException (not base64) or ValidationException (null or length).
 */
export function sensitiveBlob(input: Input, name: string, opts: { min: number; max: number }): Uint8Array {
  // Input.blob already words blob constraints without the value, as AWS does.
  return input.blob(name, { required: true, min: opts.min, max: opts.max });
}

export type AwsEncryptionAlgorithm = (typeof AWS_ENCRYPTION_ALGORITHMS)[number];

/**
 * Reads an encryption-algorithm field (SYMMETRIC_DEFAULT when absent).
 * @throws {AwsError} ValidationException for a value outside AWS's enum.
 */
export function readEncryptionAlgorithm(input: Input, field: string): AwsEncryptionAlgorithm {
  return input.enum(field, AWS_ENCRYPTION_ALGORITHMS) ?? 'SYMMETRIC_DEFAULT';
}

/**
 * Requires `algorithm` to be one the (symmetric) key supports.
 * @throws {AwsError} InvalidKeyUsageException in AWS's wording.
 */
export function requireEncryptionAlgorithm(key: KeyRecord, algorithm: AwsEncryptionAlgorithm): void {
  if (algorithm !== 'SYMMETRIC_DEFAULT' || key.keySpec !== 'SYMMETRIC_DEFAULT') {
    throw invalidKeyUsage(`Algorithm ${algorithm} is incompatible with key spec ${key.keySpec}.`);
  }
}

/**
 * Requires the MAC algorithm to be the one of the key's HMAC spec (AWS pairs
 * each HMAC key spec with exactly one algorithm).
 * @throws {AwsError} InvalidKeyUsageException in AWS's wording.
 */
export function requireMacAlgorithm(key: KeyRecord, algorithm: MacAlgorithm): void {
  if (hmacSpec(key.keySpec)?.algorithm !== algorithm) {
    throw invalidKeyUsage(`Algorithm ${algorithm} is incompatible with key spec ${key.keySpec}.`);
  }
}

/**
 * Reads `DryRun` and checks `GrantTokens` (a grant is effective at once here, so a token only has to be valid).
 * @throws {AwsError} SerializationException, ValidationException or InvalidGrantTokenException.
 */
export function readDryRun(input: Input): boolean {
  readGrantTokens(input);
  return input.boolean('DryRun') ?? false;
}

/**
 * Ends a dry run that passed every check, as AWS does.
 * @throws {AwsError} DryRunOperationException, always.
 */
export function dryRunSucceeded(): never {
  throw new AwsError('DryRunOperationException', 'The request would have succeeded, but the DryRun option is set.');
}

/**
 * Refuses `Recipient` (encryption of the result to an attested enclave's key).
 * @throws {AwsError} UnsupportedOperationException when the field is present.
 */
export function refuseRecipient(input: Input): void {
  if (input.has('Recipient')) {
    throw unsupportedOperation('Recipient (an attested enclave public key) is not supported by this custodian.');
  }
}

/** The key-encryption algorithms AWS defines for `Recipient` (RecipientInfo.KeyEncryptionAlgorithm). */
export const RECIPIENT_KEY_ENCRYPTION_ALGORITHMS = ['RSAES_OAEP_SHA_256'] as const;

export interface RecipientField {
  keyEncryptionAlgorithm: (typeof RECIPIENT_KEY_ENCRYPTION_ALGORITHMS)[number];
  attestationDocument: Uint8Array;
}

/**
 * Reads `Recipient` ({ KeyEncryptionAlgorithm, AttestationDocument }, AWS's
 * RecipientInfo; the document is 1 to 262,144 bytes as in AWS's model).
 * @throws {AwsError} SerializationException or ValidationException.
 */
export function readRecipient(input: Input): RecipientField | undefined {
  const recipient = input.object('Recipient');
  if (!recipient) return undefined;
  const keyEncryptionAlgorithm = recipient.enum('KeyEncryptionAlgorithm', RECIPIENT_KEY_ENCRYPTION_ALGORITHMS, { required: true });
  const attestationDocument = recipient.blob('AttestationDocument', { required: true, min: 1, max: 262144 });
  return { keyEncryptionAlgorithm, attestationDocument };
}

/**
 * Verifies and consumes a `Recipient` attestation document (trusted platform
 * key, ES384 signature, at most 5 minutes old, never seen before) and returns
 * the attested key with the `kms:RecipientAttestation:*` condition keys.
 * @throws {AwsError} UnsupportedOperationException when this custodian has no
 *   attestation verifier; ValidationException naming the reason a document is refused.
 */
export function attestRecipient(ctx: OperationContext, recipient: RecipientField): AttestedRecipient {
  const verifier = ctx.deps.recipientAttestation;
  if (!verifier) throw unsupportedOperation('Recipient (an attested enclave public key) is not supported by this custodian.');
  try {
    return verifier.accept(recipient.attestationDocument, ctx.info.now);
  } catch (e) {
    if (e instanceof AttestationError) throw validation(`The attestation document in Recipient is not valid (${e.code}): ${e.message}`);
    throw e;
  }
}
