/**
 * UntagResource (AWS KMS API Reference): removes tags from a key by tag key.
 * Naming a tag key the key does not have is not an error (as in AWS). Keys
 * pending deletion are refused.
 */
import * as repo from '../../storage/keys.repository.js';
import { updateKeyAtomically } from '../key-records.js';
import { resolveKeyIdOrArn } from '../aliases.js';
import { constraintViolation, notFound } from '../../aws/errors.js';
import { authorize, keyChanged, requireNotPendingDeletion } from '../keys.js';
import { keyArn } from '../model.js';
import { operation } from '../operation.js';

export const untagResource = operation('UntagResource', async (input, ctx) => {
  const keyId = input.string('KeyId', { required: true, min: 1, max: 2048 });
  const tagKeys = input.stringList('TagKeys');
  if (tagKeys === undefined) throw constraintViolation('tagKeys', null, 'Member must not be null');
  tagKeys.forEach((k, i) => {
    if (k.length < 1 || k.length > 128) {
      throw constraintViolation(
        `tagKeys.${i + 1}.member`,
        null,
        `Member must have length ${k.length < 1 ? 'greater than or equal to 1' : 'less than or equal to 128'}`,
      );
    }
  });

  const key = await resolveKeyIdOrArn(ctx, keyId);
  await authorize(ctx, 'kms:UntagResource', key, { 'aws:TagKeys': tagKeys });
  await ctx.deps.store.db.transaction().execute(async (trx) => {
    const claimed = await updateKeyAtomically(trx, key.keyId, (k) => {
      requireNotPendingDeletion(k);
      return { ...k };
    });
    if (!claimed) throw notFound(`Key '${keyArn(key)}' does not exist`);
    await repo.removeTags(trx, key.keyId, [...new Set(tagKeys)]);
  });
  keyChanged(ctx, key.keyId);
  return {};
});
