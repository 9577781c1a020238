/**
 * CancelKeyDeletion (AWS KMS API Reference): takes a key out of
 * PendingDeletion. As in AWS, the key comes back Disabled; EnableKey makes it
 * usable again.
 */
import { updateKeyAtomically } from '../key-records.js';
import { resolveKeyIdOrArn } from '../aliases.js';
import { invalidState, notFound } from '../../aws/errors.js';
import { authorize, keyChanged } from '../keys.js';
import { keyArn } from '../model.js';
import { operation } from '../operation.js';

export const cancelKeyDeletion = operation('CancelKeyDeletion', async (input, ctx) => {
  const keyId = input.string('KeyId', { required: true, min: 1, max: 2048 });
  const key = await resolveKeyIdOrArn(ctx, keyId);
  await authorize(ctx, 'kms:CancelKeyDeletion', key);
  const stored = await updateKeyAtomically(ctx.deps.store.db, key.keyId, (k) => {
    if (k.keyState !== 'PendingDeletion') throw invalidState(`${keyArn(k)} is not pending deletion.`);
    return { ...k, keyState: 'Disabled', deletionAt: null, pendingWindowDays: null };
  });
  if (!stored) throw notFound(`Key '${keyArn(key)}' does not exist`);
  keyChanged(ctx, key.keyId);
  return { KeyId: keyArn(stored) };
});
