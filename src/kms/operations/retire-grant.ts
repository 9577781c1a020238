/**
 * RetireGrant (AWS KMS API Reference; Developer Guide, "Retiring and revoking
 * grants"): deletes a grant, named by its GrantToken or by KeyId and GrantId.
 * Who may retire it is decided first by the grant: its retiring principal,
 * its grantee when RetireGrant is among its operations, or the account that
 * issued it (its root); beyond them, a principal the account delegated
 * kms:RetireGrant to in the key and identity policies. Audited with the key's
 * ARN, never the token.
 */
import { invalidGrantId, notFound, validation } from '../../aws/errors.js';
import { authorize, keyChanged, resolveKey } from '../keys.js';
import { keyArn } from '../model.js';
import { operation } from '../operation.js';
import { dryRunSucceeded } from '../crypto-fields.js';
import { deleteGrant, findGrant } from '../../storage/grants.repository.js';
import { checkGrantToken, GRANT_ID_RE, isPrincipal } from '../grants.js';

export const retireGrant = operation('RetireGrant', async (input, ctx) => {
  const token = input.string('GrantToken', { min: 1, max: 8192 });
  const keyIdInput = input.string('KeyId', { min: 1, max: 2048 });
  const grantIdInput = input.string('GrantId', { min: 1, max: 128 });
  const dryRun = input.boolean('DryRun') ?? false;

  let grantId: string;
  if (token !== undefined) {
    grantId = checkGrantToken(token, 'grantToken');
    if (grantIdInput !== undefined && grantIdInput !== grantId) throw validation('The grant token and GrantId name different grants.');
  } else if (keyIdInput !== undefined && grantIdInput !== undefined) {
    grantId = grantIdInput;
  } else {
    throw validation('Grant token OR (grant ID, key ID) must be specified');
  }
  if (!GRANT_ID_RE.test(grantId)) throw invalidGrantId('Invalid grant ID.');
  const named = keyIdInput === undefined ? undefined : await resolveKey(ctx, keyIdInput);
  const grant = await findGrant(ctx.deps.store.db, grantId);
  if (!grant || (named && grant.keyId !== named.keyId)) throw notFound(`Grant ID ${grantId} not found.`);
  const key = named ?? (await resolveKey(ctx, grant.keyId));
  ctx.audit.keyArn = keyArn(key);

  const mayRetire =
    (grant.retiringPrincipal !== null && isPrincipal(ctx.caller, grant.retiringPrincipal)) ||
    (grant.operations.includes('RetireGrant') && isPrincipal(ctx.caller, grant.granteePrincipal)) ||
    ctx.caller.arn === `arn:aws:iam::${grant.issuingAccount}:root`;
  // Otherwise only a principal the issuing account delegated kms:RetireGrant to (AWS: "principals to whom
  // permission for retiring a grant is delegated"), through the key policy and its identity policies.
  if (!mayRetire) await authorize(ctx, 'kms:RetireGrant', key);
  if (dryRun) dryRunSucceeded();
  if (!(await deleteGrant(ctx.deps.store.db, key.keyId, grantId))) throw notFound(`Grant ID ${grantId} not found.`);
  keyChanged(ctx, key.keyId);
  return {};
});
