/**
 * GenerateDataKeyWithoutPlaintext (AWS KMS API Reference): a fresh data key,
 * returned only encrypted under a symmetric key; the plaintext key never
 * leaves the keystore, which wipes it.
 */
import { generateWrappedDataKey } from '../keystore.js';
import { prepareDataKey } from '../data-key.js';
import { blobOut } from '../input.js';
import { keyArn } from '../model.js';
import { operation } from '../operation.js';

export const generateDataKeyWithoutPlaintext = operation('GenerateDataKeyWithoutPlaintext', async (input, ctx) => {
  const { key, material, length, context } = await prepareDataKey(input, ctx, 'GenerateDataKeyWithoutPlaintext');
  const ciphertext = generateWrappedDataKey(ctx.deps.root, key.keyId, material.version, material.sealed, length, context);
  return { CiphertextBlob: blobOut(ciphertext), KeyId: keyArn(key) };
});
