/**
 * EnableKey (AWS KMS API Reference): sets a key's state to Enabled so it can
 * be used again. Enabling an enabled key succeeds and changes nothing; a key
 * pending deletion must have its deletion cancelled first.
 */
import { updateKeyAtomically } from '../key-records.js';
import { resolveKeyIdOrArn } from '../aliases.js';
import { notFound } from '../../aws/errors.js';
import { authorize, keyChanged, requireNotPendingDeletion } from '../keys.js';
import { keyArn } from '../model.js';
import { operation } from '../operation.js';

export const enableKey = operation('EnableKey', async (input, ctx) => {
  const keyId = input.string('KeyId', { required: true, min: 1, max: 2048 });
  const key = await resolveKeyIdOrArn(ctx, keyId);
  await authorize(ctx, 'kms:EnableKey', key);
  const stored = await updateKeyAtomically(ctx.deps.store.db, key.keyId, (k) => {
    requireNotPendingDeletion(k);
    return k.keyState === 'Enabled' ? null : { ...k, keyState: 'Enabled' };
  });
  if (!stored) throw notFound(`Key '${keyArn(key)}' does not exist`);
  keyChanged(ctx, key.keyId);
  return {};
});
