/**
 * RevokeGrant (AWS KMS API Reference): deletes a grant of a key. Needs
 * kms:RevokeGrant on the key from a policy (a grant cannot give it). The
 * grant stops allowing anything at once in this process, and within the key
 * cache's lifetime in others. Audited with the key's ARN.
 */
import { invalidGrantId, notFound } from '../../aws/errors.js';
import { authorize, keyChanged } from '../keys.js';
import { resolveKeyIdOrArn } from '../aliases.js';
import { operation } from '../operation.js';
import { dryRunSucceeded } from '../crypto-fields.js';
import { deleteGrant, findGrant } from '../../storage/grants.repository.js';
import { GRANT_ID_RE } from '../grants.js';

export const revokeGrant = operation('RevokeGrant', async (input, ctx) => {
  const keyId = input.string('KeyId', { required: true, min: 1, max: 2048 });
  const grantId = input.string('GrantId', { required: true, min: 1, max: 128 });
  const dryRun = input.boolean('DryRun') ?? false;
  // KeyId: a key id or key ARN only (AWS KMS API Reference, RevokeGrant).
  const key = await resolveKeyIdOrArn(ctx, keyId);
  await authorize(ctx, 'kms:RevokeGrant', key);
  if (!GRANT_ID_RE.test(grantId)) throw invalidGrantId('Invalid grant ID.');
  const grant = await findGrant(ctx.deps.store.db, grantId);
  if (!grant || grant.keyId !== key.keyId) throw notFound(`Grant ID ${grantId} not found.`);
  if (dryRun) dryRunSucceeded();
  if (!(await deleteGrant(ctx.deps.store.db, key.keyId, grantId))) throw notFound(`Grant ID ${grantId} not found.`);
  keyChanged(ctx, key.keyId);
  return {};
});
