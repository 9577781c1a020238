/**
 * Encrypt (AWS KMS API Reference): encrypts up to 4096 bytes under a
 * symmetric key's current material version with AES-256-GCM, the encryption
 * context bound as associated data (keystore.ts). The blob names its key and
 * version, so Decrypt needs no KeyId. The plaintext never appears in an error,
 * a log line or the audit trail; the context (not secret, as in AWS) does go
 * to the audit trail.
 */
import { encrypt as encryptBlob } from '../keystore.js';
import { authorize, loadMaterial, recordProtecting, requireUsable, resolveKey } from '../keys.js';
import { wipe } from '../../crypto/bytes.js';
import { dryRunSucceeded, readDryRun, readEncryptionAlgorithm, requireEncryptionAlgorithm, sensitiveBlob } from '../crypto-fields.js';
import { encryptionContextConditions, readEncryptionContext } from '../encryption-context.js';
import { blobOut } from '../input.js';
import { keyArn } from '../model.js';
import { operation } from '../operation.js';

export const encrypt = operation('Encrypt', async (input, ctx) => {
  const keyId = input.string('KeyId', { required: true, min: 1, max: 2048 });
  const plaintext = sensitiveBlob(input, 'Plaintext', { min: 1, max: 4096 });
  try {
    const context = readEncryptionContext(input);
    const algorithm = readEncryptionAlgorithm(input, 'EncryptionAlgorithm');
    const dryRun = readDryRun(input);
    if (context) ctx.audit.encryptionContext = context;

    const key = await resolveKey(ctx, keyId);
    await authorize(ctx, 'kms:Encrypt', key, { 'kms:EncryptionAlgorithm': algorithm, ...encryptionContextConditions(context) });
    requireUsable(key, 'ENCRYPT_DECRYPT', 'Encrypt');
    requireEncryptionAlgorithm(key, algorithm);
    if (dryRun) dryRunSucceeded();

    await recordProtecting(ctx, key, 'Encrypt');
    const material = await loadMaterial(ctx, key);
    const blob = encryptBlob(ctx.deps.root, key.keyId, material.version, material.sealed, plaintext, context);
    return { CiphertextBlob: blobOut(blob), KeyId: keyArn(key), EncryptionAlgorithm: algorithm };
  } finally {
    // The caller's plaintext: best-effort wipe of our copy once it is sealed.
    wipe(plaintext);
  }
});
