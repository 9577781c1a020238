/**
 * GenerateRandom (AWS KMS API Reference): 1..1024 bytes from the platform
 * CSPRNG (node:crypto). No key is involved; the caller needs
 * kms:GenerateRandom. Custom key stores and Recipient are not supported. The
 * bytes are wiped once encoded into the response.
 */
import { randomFillSync } from 'node:crypto';
import { wipe } from '../../crypto/bytes.js';
import { AwsError, validation } from '../../aws/errors.js';
import { authorize } from '../keys.js';
import { refuseRecipient } from '../crypto-fields.js';
import { blobOut } from '../input.js';
import { operation } from '../operation.js';

export const generateRandom = operation('GenerateRandom', async (input, ctx) => {
  // AWS words a missing NumberOfBytes this way rather than as a null constraint.
  if (!input.has('NumberOfBytes')) throw validation('NumberOfBytes is required.');
  const numberOfBytes = input.integer('NumberOfBytes', { required: true, min: 1, max: 1024 });
  const customKeyStoreId = input.string('CustomKeyStoreId', { min: 1, max: 64 });
  refuseRecipient(input);
  if (customKeyStoreId !== undefined) {
    throw new AwsError('CustomKeyStoreNotFoundException', `Custom key store ${customKeyStoreId} does not exist.`);
  }

  await authorize(ctx, 'kms:GenerateRandom', undefined);
  const bytes = randomFillSync(new Uint8Array(numberOfBytes));
  try {
    return { Plaintext: blobOut(bytes) };
  } finally {
    wipe(bytes);
  }
});
