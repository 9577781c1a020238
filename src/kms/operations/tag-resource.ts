/**
 * TagResource (AWS KMS API Reference): adds tags to a key or replaces the
 * values of existing tag keys. Tags follow AWS's rules (src/kms/tags.ts); a
 * key holds at most 50, checked inside the same transaction as the write so
 * that a refused request changes nothing. Keys pending deletion are refused.
 */
import * as repo from '../../storage/keys.repository.js';
import { updateKeyAtomically } from '../key-records.js';
import { resolveKeyIdOrArn } from '../aliases.js';
import { constraintViolation, notFound, tagError } from '../../aws/errors.js';
import { authorize, keyChanged, requireNotPendingDeletion } from '../keys.js';
import { keyArn } from '../model.js';
import { operation } from '../operation.js';
import { MAX_TAGS, readTags } from '../tags.js';

export const tagResource = operation('TagResource', async (input, ctx) => {
  const keyId = input.string('KeyId', { required: true, min: 1, max: 2048 });
  if (!input.has('Tags')) throw constraintViolation('tags', null, 'Member must not be null');
  const tags = readTags(input);

  const key = await resolveKeyIdOrArn(ctx, keyId);
  const conditions: Record<string, string | string[]> = { 'aws:TagKeys': tags.map(([k]) => k) };
  for (const [k, v] of tags) conditions[`aws:RequestTag/${k}`] = v;
  await authorize(ctx, 'kms:TagResource', key, conditions);

  await ctx.deps.store.db.transaction().execute(async (trx) => {
    // Claiming the key row serialises concurrent taggers, so the 50-tag limit holds.
    const claimed = await updateKeyAtomically(trx, key.keyId, (k) => {
      requireNotPendingDeletion(k);
      return { ...k };
    });
    if (!claimed) throw notFound(`Key '${keyArn(key)}' does not exist`);
    await repo.putTags(trx, key.keyId, tags);
    if ((await repo.listTags(trx, key.keyId)).length > MAX_TAGS) throw tagError('Too many tags');
  });
  keyChanged(ctx, key.keyId);
  return {};
});
