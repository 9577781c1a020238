/**
 * GetKeyPolicy (KMS API Reference): the key's policy document, exactly as it
 * was set. Allowed in every key state. The only policy name is `default`.
 */
import { authorize, resolveKey } from '../keys.js';
import { operation } from '../operation.js';
import { readPolicyName, requireDefaultPolicyName } from './put-key-policy.js';

export const getKeyPolicy = operation('GetKeyPolicy', async (input, ctx) => {
  const keyId = input.string('KeyId', { required: true, min: 1, max: 2048 });
  const policyName = readPolicyName(input);
  const key = await resolveKey(ctx, keyId);
  await authorize(ctx, 'kms:GetKeyPolicy', key);
  requireDefaultPolicyName(policyName);
  return { Policy: key.policy, PolicyName: 'default' };
});
