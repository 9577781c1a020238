/**
 * GetKeyPolicy (KMS API Reference): the key's policy document, exactly as it
 * was set. Allowed in every key state. The only policy name is `default`.
 * KeyId is a key id or key ARN only (an alias is NotFoundException), as AWS documents.
 */
import { resolveKeyIdOrArn } from '../aliases.js';
import { authorize } from '../keys.js';
import { operation } from '../operation.js';
import { readPolicyName, requireDefaultPolicyName } from './put-key-policy.js';

export const getKeyPolicy = operation('GetKeyPolicy', async (input, ctx) => {
  const keyId = input.string('KeyId', { required: true, min: 1, max: 2048 });
  const policyName = readPolicyName(input);
  const key = await resolveKeyIdOrArn(ctx, keyId);
  await authorize(ctx, 'kms:GetKeyPolicy', key);
  requireDefaultPolicyName(policyName);
  return { Policy: key.policy, PolicyName: 'default' };
});
