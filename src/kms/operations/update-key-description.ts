/**
 * UpdateKeyDescription (AWS KMS API Reference): replaces a key's description
 * (0 to 8192 characters; an empty string clears it). KeyId is a key id or key
 * ARN only, as AWS documents; a key pending deletion is refused
 * (KMSInvalidStateException, AWS's key-state table). A description is not a
 * permission, so a key's quorum rule does not apply; like every request, the
 * change is an audit event naming the key.
 */
import { updateKeyAtomically } from '../key-records.js';
import { resolveKeyIdOrArn } from '../aliases.js';
import { notFound } from '../../aws/errors.js';
import { authorize, keyChanged, requireNotPendingDeletion } from '../keys.js';
import { keyArn } from '../model.js';
import { operation } from '../operation.js';

export const updateKeyDescription = operation('UpdateKeyDescription', async (input, ctx) => {
  const keyId = input.string('KeyId', { required: true, min: 1, max: 2048 });
  const description = input.string('Description', { required: true, max: 8192 });
  const key = await resolveKeyIdOrArn(ctx, keyId);
  await authorize(ctx, 'kms:UpdateKeyDescription', key);
  const stored = await updateKeyAtomically(ctx.deps.store.db, key.keyId, (k) => {
    requireNotPendingDeletion(k);
    return k.description === description ? null : { ...k, description };
  });
  if (!stored) throw notFound(`Key '${keyArn(key)}' does not exist`);
  keyChanged(ctx, key.keyId);
  return {};
});
