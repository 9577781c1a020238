/**
 * DisableKey (AWS KMS API Reference): sets a key's state to Disabled; every
 * cryptographic operation then refuses it with DisabledException until
 * EnableKey. Disabling a disabled key succeeds and changes nothing; a key
 * pending deletion is refused with KMSInvalidStateException.
 */
import { updateKeyAtomically } from '../key-records.js';
import { resolveKeyIdOrArn } from '../aliases.js';
import { notFound } from '../../aws/errors.js';
import { authorize, keyChanged, requireNotPendingDeletion } from '../keys.js';
import { keyArn } from '../model.js';
import { operation } from '../operation.js';

export const disableKey = operation('DisableKey', async (input, ctx) => {
  const keyId = input.string('KeyId', { required: true, min: 1, max: 2048 });
  const key = await resolveKeyIdOrArn(ctx, keyId);
  await authorize(ctx, 'kms:DisableKey', key);
  const stored = await updateKeyAtomically(ctx.deps.store.db, key.keyId, (k) => {
    requireNotPendingDeletion(k);
    return k.keyState === 'Disabled' ? null : { ...k, keyState: 'Disabled' };
  });
  if (!stored) throw notFound(`Key '${keyArn(key)}' does not exist`);
  keyChanged(ctx, key.keyId);
  return {};
});
