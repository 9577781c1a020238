/**
 * EnableKeyRotation (AWS KMS API Reference): turns on automatic rotation of a
 * symmetric encryption key's material every RotationPeriodInDays (90–2560,
 * default 365). The first rotation falls one period after it is enabled;
 * changing the period of an enabled key moves the next date to one new
 * period after the schedule's start. Maintenance (src/kms/maintenance.ts)
 * performs the rotations.
 */
import { updateKeyAtomically } from '../key-records.js';
import { resolveKeyIdOrArn } from '../aliases.js';
import { notFound } from '../../aws/errors.js';
import { authorize, keyChanged, requireUsable } from '../keys.js';
import { DAY_MS, requireRotatable } from '../maintenance.js';
import { keyArn } from '../model.js';
import { operation } from '../operation.js';

export const enableKeyRotation = operation('EnableKeyRotation', async (input, ctx) => {
  const keyId = input.string('KeyId', { required: true, min: 1, max: 2048 });
  const period = input.integer('RotationPeriodInDays', { min: 90, max: 2560 }) ?? 365;

  const key = await resolveKeyIdOrArn(ctx, keyId);
  await authorize(ctx, 'kms:EnableKeyRotation', key, { 'kms:RotationPeriodInDays': String(period) });
  const now = ctx.info.now;
  const stored = await updateKeyAtomically(ctx.deps.store.db, key.keyId, (k) => {
    requireRotatable(k);
    requireUsable(k, 'ENCRYPT_DECRYPT', 'EnableKeyRotation');
    if (k.rotationEnabled && k.rotationPeriodDays === period) return null;
    // An enabled schedule keeps its start (the last rotation, or when it was enabled).
    const start = k.rotationEnabled && k.nextRotationAt !== null && k.rotationPeriodDays !== null ? k.nextRotationAt - k.rotationPeriodDays * DAY_MS : now;
    return { ...k, rotationEnabled: true, rotationPeriodDays: period, nextRotationAt: Math.max(start + period * DAY_MS, now) };
  });
  if (!stored) throw notFound(`Key '${keyArn(key)}' does not exist`);
  keyChanged(ctx, key.keyId);
  return {};
});
