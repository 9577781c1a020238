/**
 * DisableKeyRotation (AWS KMS API Reference): turns off automatic rotation of
 * a symmetric encryption key. Material versions already made stay, so
 * ciphertexts under them still decrypt.
 */
import { updateKeyAtomically } from '../key-records.js';
import { resolveKeyIdOrArn } from '../aliases.js';
import { notFound } from '../../aws/errors.js';
import { authorize, keyChanged, requireUsable } from '../keys.js';
import { requireRotatable } from '../maintenance.js';
import { keyArn } from '../model.js';
import { operation } from '../operation.js';

export const disableKeyRotation = operation('DisableKeyRotation', async (input, ctx) => {
  const keyId = input.string('KeyId', { required: true, min: 1, max: 2048 });
  const key = await resolveKeyIdOrArn(ctx, keyId);
  await authorize(ctx, 'kms:DisableKeyRotation', key);
  const stored = await updateKeyAtomically(ctx.deps.store.db, key.keyId, (k) => {
    requireRotatable(k);
    requireUsable(k, 'ENCRYPT_DECRYPT', 'DisableKeyRotation');
    return k.rotationEnabled ? { ...k, rotationEnabled: false, rotationPeriodDays: null, nextRotationAt: null } : null;
  });
  if (!stored) throw notFound(`Key '${keyArn(key)}' does not exist`);
  keyChanged(ctx, key.keyId);
  return {};
});
