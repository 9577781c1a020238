/**
 * GetKeyRotationStatus (AWS KMS API Reference): whether automatic rotation is
 * on, its period and next date. As AWS documents, keys that cannot rotate
 * (asymmetric, HMAC) report false. On-demand rotations complete within the
 * request here, so OnDemandRotationStartDate (set by AWS only while one is in
 * progress) never appears. Works in every key state.
 */
import { resolveKeyIdOrArn } from '../aliases.js';
import { authorize } from '../keys.js';
import { operation } from '../operation.js';

export const getKeyRotationStatus = operation('GetKeyRotationStatus', async (input, ctx) => {
  const keyId = input.string('KeyId', { required: true, min: 1, max: 2048 });
  const key = await resolveKeyIdOrArn(ctx, keyId);
  await authorize(ctx, 'kms:GetKeyRotationStatus', key);
  const enabled = key.keySpec === 'SYMMETRIC_DEFAULT' && key.rotationEnabled;
  return {
    KeyId: key.keyId,
    KeyRotationEnabled: enabled,
    ...(enabled && key.rotationPeriodDays !== null ? { RotationPeriodInDays: key.rotationPeriodDays } : {}),
    ...(enabled && key.nextRotationAt !== null ? { NextRotationDate: key.nextRotationAt / 1000 } : {}),
  };
});
