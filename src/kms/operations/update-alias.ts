/**
 * UpdateAlias (AWS KMS API Reference): points an existing alias at another
 * key. As AWS requires, the new key must be of the same type (symmetric,
 * asymmetric or HMAC) and key usage as the current one, so code that uses the
 * alias keeps working; the new key must not be pending deletion. The caller
 * needs kms:UpdateAlias on both keys.
 */
import * as repo from '../../storage/keys.repository.js';
import { updateKeyAtomically } from '../key-records.js';
import { checkAliasName, isAliasIdentifier, keyFamily } from '../aliases.js';
import { notFound, validation } from '../../aws/errors.js';
import { authorize, keyChanged, requireNotPendingDeletion, resolveKey } from '../keys.js';
import { aliasArn, keyArn } from '../model.js';
import { operation } from '../operation.js';

export const updateAlias = operation('UpdateAlias', async (input, ctx) => {
  const aliasName = input.string('AliasName', { required: true });
  const targetKeyId = input.string('TargetKeyId', { required: true, min: 1, max: 2048 });
  checkAliasName(aliasName, 'lookup');
  if (isAliasIdentifier(targetKeyId)) throw validation('Aliases must refer to keys. Not aliases');

  const { config, store } = ctx.deps;
  const missing = () => notFound(`Alias ${aliasArn(config.region, config.accountId, aliasName)} is not found.`);
  const alias = await repo.findAlias(store.db, aliasName);
  if (!alias) throw missing();
  const current = await resolveKey(ctx, alias.keyId);
  const next = await resolveKey(ctx, targetKeyId);
  await authorize(ctx, 'kms:UpdateAlias', current);
  await authorize(ctx, 'kms:UpdateAlias', next);
  if (keyFamily(current) !== keyFamily(next)) {
    throw validation(
      `${keyArn(next)} is a ${keyFamily(next)} key but alias ${aliasName} names a ${keyFamily(current)} key: ` +
        'the current key and the new key must be the same type and have the same key usage.',
    );
  }

  // Under an account quorum rule moving an alias is a permission change: what signs through it changes.
  await ctx.deps.quorum.guard(ctx, {
    kind: 'UpdateAlias',
    target: aliasName,
    keyId: next.keyId,
    payload: { AliasName: aliasName, TargetKeyId: keyArn(next), CurrentKeyId: keyArn(current) },
    base: current.keyId,
    protocol: 'kms',
  });
  await store.db.transaction().execute(async (trx) => {
    const claimed = await updateKeyAtomically(trx, next.keyId, (k) => {
      requireNotPendingDeletion(k);
      return { ...k };
    });
    if (!claimed) throw notFound(`Key '${keyArn(next)}' does not exist`);
    if (!(await repo.findAlias(trx, aliasName))) throw missing();
    await repo.updateAlias(trx, aliasName, next.keyId, ctx.info.now);
  });
  keyChanged(ctx, current.keyId);
  keyChanged(ctx, next.keyId);
  return {};
});
