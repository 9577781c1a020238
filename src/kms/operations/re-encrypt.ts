/**
 * ReEncrypt (AWS KMS API Reference): decrypts a blob under its source key and
 * encrypts the plaintext under a destination key, inside the custodian, so the
 * plaintext never reaches the caller. SourceKeyId is optional (the blob names
 * its key); DestinationKeyId is required. The caller needs kms:ReEncryptFrom
 * on the source key and kms:ReEncryptTo on the destination key, each tested
 * with `kms:ReEncryptOnSameKey` as AWS does. The intermediate plaintext is
 * wiped in `finally`. The audit event names the destination key and context
 * (the event has one key and one context field).
 */
import { authorize, loadMaterial, recordProtecting, requireUsable, resolveKey } from '../keys.js';
import { encrypt as encryptBlob, parseCiphertextHeader } from '../keystore.js';
import { wipe } from '../../crypto/bytes.js';
import { openCiphertext, resolveCiphertextKey } from '../ciphertext.js';
import { admitShareGeneration } from '../share-generation.js';
import { dryRunSucceeded, readDryRun, readEncryptionAlgorithm, requireEncryptionAlgorithm } from '../crypto-fields.js';
import { encryptionContextConditions, readEncryptionContext } from '../encryption-context.js';
import { blobOut } from '../input.js';
import { keyArn } from '../model.js';
import { operation } from '../operation.js';

export const reEncrypt = operation('ReEncrypt', async (input, ctx) => {
  const blob = input.blob('CiphertextBlob', { required: true, min: 1, max: 6144 });
  const sourceContext = readEncryptionContext(input, 'SourceEncryptionContext');
  const sourceKeyId = input.string('SourceKeyId', { min: 1, max: 2048 });
  const destinationKeyId = input.string('DestinationKeyId', { required: true, min: 1, max: 2048 });
  const destinationContext = readEncryptionContext(input, 'DestinationEncryptionContext');
  const sourceAlgorithm = readEncryptionAlgorithm(input, 'SourceEncryptionAlgorithm');
  const destinationAlgorithm = readEncryptionAlgorithm(input, 'DestinationEncryptionAlgorithm');
  const dryRun = readDryRun(input);
  if (destinationContext) ctx.audit.encryptionContext = destinationContext;

  const destination = await resolveKey(ctx, destinationKeyId);
  const sameKey = String(parseCiphertextHeader(blob)?.keyId === destination.keyId);
  const { key: source, version } = await resolveCiphertextKey(ctx, blob, sourceKeyId, 'kms:ReEncryptFrom', {
    'kms:EncryptionAlgorithm': sourceAlgorithm,
    'kms:ReEncryptOnSameKey': sameKey,
    ...encryptionContextConditions(sourceContext),
  });
  requireUsable(source, 'ENCRYPT_DECRYPT', 'ReEncrypt');
  requireEncryptionAlgorithm(source, sourceAlgorithm);
  await authorize(ctx, 'kms:ReEncryptTo', destination, {
    'kms:EncryptionAlgorithm': destinationAlgorithm,
    'kms:ReEncryptOnSameKey': sameKey,
    ...encryptionContextConditions(destinationContext),
  });
  requireUsable(destination, 'ENCRYPT_DECRYPT', 'ReEncrypt');
  requireEncryptionAlgorithm(destination, destinationAlgorithm);
  if (dryRun) dryRunSucceeded();

  const plaintext = await openCiphertext(ctx, source, version, blob, sourceContext);
  try {
    // A retired split share is not re-encrypted into a context that would pass (share-generation.ts).
    await admitShareGeneration(ctx, { key: source, context: sourceContext, blob, attested: false });
    await recordProtecting(ctx, destination, 'ReEncrypt');
    const material = await loadMaterial(ctx, destination);
    const out = encryptBlob(ctx.deps.root, destination.keyId, material.version, material.sealed, plaintext, destinationContext);
    return {
      CiphertextBlob: blobOut(out),
      SourceKeyId: keyArn(source),
      KeyId: keyArn(destination),
      SourceEncryptionAlgorithm: sourceAlgorithm,
      DestinationEncryptionAlgorithm: destinationAlgorithm,
    };
  } finally {
    wipe(plaintext);
  }
});
