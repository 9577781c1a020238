/**
 * ScheduleKeyDeletion (AWS KMS API Reference): puts a key in PendingDeletion
 * for a waiting period of 7–30 days (default 30). While pending, the key is
 * refused by every cryptographic operation; CancelKeyDeletion restores it
 * (Disabled); when the window ends, maintenance (src/kms/maintenance.ts)
 * deletes it with its material, aliases and tags.
 */
import { updateKeyAtomically } from '../key-records.js';
import { resolveKeyIdOrArn } from '../aliases.js';
import { notFound, validation } from '../../aws/errors.js';
import { authorize, keyChanged, requireNotPendingDeletion } from '../keys.js';
import { DAY_MS } from '../maintenance.js';
import { keyArn } from '../model.js';
import { operation } from '../operation.js';

export const scheduleKeyDeletion = operation('ScheduleKeyDeletion', async (input, ctx) => {
  const keyId = input.string('KeyId', { required: true, min: 1, max: 2048 });
  // AWS's model admits 1–365; the service itself then requires 7–30.
  const days = input.integer('PendingWindowInDays', { min: 1, max: 365 }) ?? 30;
  if (days < 7 || days > 30) throw validation(`PendingWindowInDays should be between 7 and 30, but it is ${days}`);

  const key = await resolveKeyIdOrArn(ctx, keyId);
  await authorize(ctx, 'kms:ScheduleKeyDeletion', key, { 'kms:ScheduleKeyDeletionPendingWindowInDays': String(days) });
  const deletionAt = ctx.info.now + days * DAY_MS;
  const stored = await updateKeyAtomically(ctx.deps.store.db, key.keyId, (k) => {
    requireNotPendingDeletion(k);
    return { ...k, keyState: 'PendingDeletion', deletionAt, pendingWindowDays: days };
  });
  if (!stored) throw notFound(`Key '${keyArn(key)}' does not exist`);
  keyChanged(ctx, key.keyId);
  return {
    KeyId: keyArn(stored),
    DeletionDate: deletionAt / 1000,
    KeyState: 'PendingDeletion',
    PendingWindowInDays: days,
  };
});
