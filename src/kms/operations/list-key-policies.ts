/**
 * ListKeyPolicies (KMS API Reference): the names of a key's policies, which
 * are always just `default`. KeyId is a key id or key ARN only (an alias is
 * NotFoundException), as AWS documents.
 */
import { resolveKeyIdOrArn } from '../aliases.js';
import { authorize } from '../keys.js';
import { operation } from '../operation.js';

export const listKeyPolicies = operation('ListKeyPolicies', async (input, ctx) => {
  const keyId = input.string('KeyId', { required: true, min: 1, max: 2048 });
  input.integer('Limit', { min: 1, max: 1000 });
  input.string('Marker', { min: 1, max: 320 });
  const key = await resolveKeyIdOrArn(ctx, keyId);
  await authorize(ctx, 'kms:ListKeyPolicies', key);
  return { PolicyNames: ['default'], Truncated: false };
});
