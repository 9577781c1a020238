/**
 * DeleteAlias (AWS KMS API Reference): removes an alias; the key it named is
 * not affected. Works whatever the key's state.
 */
import * as repo from '../../storage/keys.repository.js';
import { checkAliasName } from '../aliases.js';
import { notFound } from '../../aws/errors.js';
import { authorize, keyChanged, resolveKey } from '../keys.js';
import { aliasArn, keyArn } from '../model.js';
import { operation } from '../operation.js';

export const deleteAlias = operation('DeleteAlias', async (input, ctx) => {
  const aliasName = input.string('AliasName', { required: true });
  checkAliasName(aliasName, 'lookup');

  const { config, store } = ctx.deps;
  const alias = await repo.findAlias(store.db, aliasName);
  if (!alias) throw notFound(`Alias ${aliasArn(config.region, config.accountId, aliasName)} is not found.`);
  const key = await resolveKey(ctx, alias.keyId);
  await authorize(ctx, 'kms:DeleteAlias', key);
  // Under an account quorum rule: deleting frees a name applications sign through for a CreateAlias elsewhere (a move in two steps).
  await ctx.deps.quorum.guard(ctx, {
    kind: 'DeleteAlias',
    target: aliasName,
    keyId: key.keyId,
    payload: { AliasName: aliasName, CurrentKeyId: keyArn(key) },
    base: key.keyId,
    protocol: 'kms',
  });
  await repo.deleteAlias(store.db, aliasName);
  keyChanged(ctx, key.keyId);
  return {};
});
