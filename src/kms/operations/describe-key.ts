/**
 * DescribeKey: the key's metadata. Never its material.
 */
import { authorize, resolveKey } from '../keys.js';
import { keyMetadata } from '../model.js';
import { operation } from '../operation.js';
import { readGrantTokens } from '../grants.js';

export const describeKey = operation('DescribeKey', async (input, ctx) => {
  const keyId = input.string('KeyId', { required: true, min: 1, max: 2048 });
  readGrantTokens(input);
  const key = await resolveKey(ctx, keyId);
  await authorize(ctx, 'kms:DescribeKey', key);
  return { KeyMetadata: keyMetadata(key) };
});
