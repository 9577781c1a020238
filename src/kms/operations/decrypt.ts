/**
 * Decrypt (AWS KMS API Reference): opens a blob made by Encrypt,
 * GenerateDataKey* or ReEncrypt. KeyId is optional, as in AWS: the blob names
 * its key and material version, and decryption uses that version, so blobs
 * made before a rotation still open. A KeyId naming another key is
 * IncorrectKeyException; a wrong or missing encryption context, an altered or
 * foreign blob is InvalidCiphertextException with an empty message. The
 * plaintext is wiped once encoded into the response.
 */
import { requireUsable } from '../keys.js';
import { wipe } from '../../crypto/bytes.js';
import { openCiphertext, resolveCiphertextKey } from '../ciphertext.js';
import {
  dryRunSucceeded,
  readDryRun,
  readEncryptionAlgorithm,
  refuseRecipient,
  requireEncryptionAlgorithm,
} from '../crypto-fields.js';
import { encryptionContextConditions, readEncryptionContext } from '../encryption-context.js';
import { blobOut } from '../input.js';
import { keyArn } from '../model.js';
import { operation } from '../operation.js';

export const decrypt = operation('Decrypt', async (input, ctx) => {
  const blob = input.blob('CiphertextBlob', { required: true, min: 1, max: 6144 });
  const keyId = input.string('KeyId', { min: 1, max: 2048 });
  const context = readEncryptionContext(input);
  const algorithm = readEncryptionAlgorithm(input, 'EncryptionAlgorithm');
  const dryRun = readDryRun(input);
  refuseRecipient(input);
  if (context) ctx.audit.encryptionContext = context;

  const { key, version } = await resolveCiphertextKey(ctx, blob, keyId, 'kms:Decrypt', {
    'kms:EncryptionAlgorithm': algorithm,
    ...encryptionContextConditions(context),
  });
  requireUsable(key, 'ENCRYPT_DECRYPT', 'Decrypt');
  requireEncryptionAlgorithm(key, algorithm);
  if (dryRun) dryRunSucceeded();

  const plaintext = await openCiphertext(ctx, key, version, blob, context);
  try {
    return { KeyId: keyArn(key), Plaintext: blobOut(plaintext), EncryptionAlgorithm: algorithm };
  } finally {
    wipe(plaintext);
  }
});
