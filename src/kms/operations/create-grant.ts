/**
 * CreateGrant (AWS KMS API Reference): gives a grantee principal permission
 * to perform some grant operations on a key, optionally only with a given
 * encryption context (Constraints), and names who may retire the grant.
 * Operations the key does not support, and encryption-context constraints on
 * keys that are not symmetric encryption keys, are a ValidationException, as
 * in AWS. With a Name, a repeated request with the same parameters returns
 * the same GrantId (and a new, interchangeable token). The caller needs
 * kms:CreateGrant (tested with kms:GranteePrincipal, kms:RetiringPrincipal,
 * kms:GrantOperations, kms:GrantConstraintType and kms:GrantIsForAWSResource),
 * from a policy or from a grant; through a grant, only a narrower grant.
 * On a key with a quorum rule the grant is a pending change approvers must
 * approve (src/kms/policy/quorum.ts). The token is never logged or audited.
 */
import { authorize, requireNotPendingDeletion } from '../keys.js';
import { resolveKeyIdOrArn } from '../aliases.js';
import { unsupportedOperation, validation } from '../../aws/errors.js';
import { operation } from '../operation.js';
import { dryRunSucceeded } from '../crypto-fields.js';
import { findNamedGrant } from '../../storage/grants.repository.js';
import {
  checkDerivedGrant,
  checkGrantForKey,
  grantParamsSha256,
  newGrantId,
  newGrantToken,
  readConstraints,
  readGrantName,
  readGrantOperations,
  readGrantTokens,
  readPrincipal,
  type Grant,
} from '../grants.js';
import { createGrantGuarded } from '../policy/quorum.js';

export const createGrant = operation('CreateGrant', async (input, ctx) => {
  const keyId = input.string('KeyId', { required: true, min: 1, max: 2048 });
  if (input.has('GranteeServicePrincipal') || input.has('RetiringServicePrincipal')) {
    throw unsupportedOperation('Service principals (GranteeServicePrincipal, RetiringServicePrincipal) are not supported by this custodian.');
  }
  const grantee = readPrincipal(input, 'GranteePrincipal', false);
  if (grantee === undefined) throw validation('GranteePrincipal must be specified.');
  const retiring = readPrincipal(input, 'RetiringPrincipal', false) ?? null;
  const operations = readGrantOperations(input);
  const constraints = readConstraints(input);
  const name = readGrantName(input) ?? null;
  readGrantTokens(input);
  const dryRun = input.boolean('DryRun') ?? false;

  // KeyId: a key id or key ARN only (AWS KMS API Reference, CreateGrant).
  const key = await resolveKeyIdOrArn(ctx, keyId);
  const conditions: Record<string, string | string[]> = {
    'kms:GranteePrincipal': grantee,
    'kms:GrantOperations': operations,
    'kms:GrantIsForAWSResource': 'false',
  };
  if (retiring !== null) conditions['kms:RetiringPrincipal'] = retiring;
  if (constraints) conditions['kms:GrantConstraintType'] = constraints.encryptionContextSubset ? 'EncryptionContextSubset' : 'EncryptionContextEquals';
  const parent = await authorize(ctx, 'kms:CreateGrant', key, conditions);
  requireNotPendingDeletion(key);
  checkGrantForKey(key, operations, constraints);
  if (parent) checkDerivedGrant(parent, operations, constraints);
  if (dryRun) dryRunSucceeded();

  const params = { granteePrincipal: grantee, retiringPrincipal: retiring, operations, constraints };
  const paramsSha256 = grantParamsSha256(params);
  // AWS: "you can retry this request with identical parameters; if the grant already exists, the original GrantId is returned".
  const existing = name === null ? undefined : await findNamedGrant(ctx.deps.store.db, key.keyId, name, paramsSha256);
  const grant: Grant = existing ?? {
    grantId: newGrantId(),
    keyId: key.keyId,
    name,
    ...params,
    issuingAccount: ctx.deps.config.accountId,
    paramsSha256,
    createdAt: ctx.info.now,
  };
  const stored = existing ?? (await createGrantGuarded(ctx, key, grant));
  return { GrantToken: newGrantToken(stored.grantId), GrantId: stored.grantId };
});
