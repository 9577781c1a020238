/**
 * GenerateDataKey (AWS KMS API Reference): a fresh data key from the
 * platform CSPRNG, returned in plaintext and encrypted under a symmetric key
 * (the blob Decrypt opens). The plaintext key exists only in the keystore's
 * buffer and this response: it is wiped as soon as it is base64-encoded.
 */
import { wipe } from '../../crypto/bytes.js';
import { generateDataKey as generate } from '../keystore.js';
import { refuseRecipient } from '../crypto-fields.js';
import { prepareDataKey } from '../data-key.js';
import { blobOut } from '../input.js';
import { keyArn } from '../model.js';
import { operation } from '../operation.js';

export const generateDataKey = operation('GenerateDataKey', async (input, ctx) => {
  const { key, material, length, context } = await prepareDataKey(input, ctx, 'GenerateDataKey', () => refuseRecipient(input));
  const { plaintext, ciphertext } = generate(ctx.deps.root, key.keyId, material.version, material.sealed, length, context);
  try {
    return { CiphertextBlob: blobOut(ciphertext), Plaintext: blobOut(plaintext), KeyId: keyArn(key) };
  } finally {
    wipe(plaintext);
  }
});
