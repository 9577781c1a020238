/**
 * CreateAlias (AWS KMS API Reference): a friendly name (`alias/NAME`) for a
 * key, usable wherever a KeyId names a key for use (Sign, Encrypt,
 * DescribeKey, …) as `alias/NAME` or as the alias ARN. The target must be a
 * key id or key ARN, not another alias; keys pending deletion are refused.
 */
import * as repo from '../../storage/keys.repository.js';
import { updateKeyAtomically } from '../key-records.js';
import { checkAliasName, isAliasIdentifier } from '../aliases.js';
import { alreadyExists, notFound, validation } from '../../aws/errors.js';
import { authorize, keyChanged, requireNotPendingDeletion, resolveKey } from '../keys.js';
import { aliasArn, keyArn } from '../model.js';
import { operation } from '../operation.js';
import { getQuorumRule } from '../../storage/iam-quorum.repository.js';

export const createAlias = operation('CreateAlias', async (input, ctx) => {
  const aliasName = input.string('AliasName', { required: true });
  const targetKeyId = input.string('TargetKeyId', { required: true, min: 1, max: 2048 });
  checkAliasName(aliasName, 'create');
  if (isAliasIdentifier(targetKeyId)) throw validation('Aliases must refer to keys. Not aliases');

  const { config, store } = ctx.deps;
  const duplicate = () => alreadyExists(`An alias with the name ${aliasArn(config.region, config.accountId, aliasName)} already exists`);
  if (await repo.findAlias(store.db, aliasName)) throw duplicate();
  const key = await resolveKey(ctx, targetKeyId);
  await authorize(ctx, 'kms:CreateAlias', key);
  // A new name redirects no application, so CreateAlias is immediate (KmsWalletManager makes one per wallet);
  // but a name for a key with a quorum rule of its own waits for the account rule's quorum, if there is one.
  if (await getQuorumRule(store.db, key.keyId))
    await ctx.deps.quorum.guard(ctx, {
      kind: 'CreateAlias',
      target: aliasName,
      keyId: key.keyId,
      payload: { AliasName: aliasName, TargetKeyId: keyArn(key) },
      base: '',
      protocol: 'kms',
    });

  const now = ctx.info.now;
  await store.db.transaction().execute(async (trx) => {
    // Claiming the key row checks its state afresh and holds off a concurrent deletion.
    const claimed = await updateKeyAtomically(trx, key.keyId, (k) => {
      requireNotPendingDeletion(k);
      return { ...k };
    });
    if (!claimed) throw notFound(`Key '${keyArn(key)}' does not exist`);
    // The insert itself decides a race between two requests for one name.
    if (!(await repo.insertAliasIfAbsent(trx, { aliasName, keyId: key.keyId, createdAt: now, updatedAt: now }))) throw duplicate();
  });
  keyChanged(ctx, key.keyId);
  return {};
});
