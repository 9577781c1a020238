/**
 * PutKeyPolicy (KMS API Reference): replaces a key's policy. The policy must
 * parse (MalformedPolicyDocumentException) and, unless
 * BypassPolicyLockoutSafetyCheck is true, must let the caller call
 * PutKeyPolicy again. The only policy name is `default`. On a key with a
 * quorum rule the change is recorded as pending and the call fails with
 * KMSInvalidStateException naming the change (docs/access-control.md).
 * KeyId is a key id or key ARN only, as AWS documents: an alias is
 * NotFoundException, never its target. The account root may move a wallet
 * master key from template 2 to its template-3 migration although the key's
 * policy grants PutKeyPolicy to nobody (src/kms/policy/master-key-migration.ts).
 */
import { resolveKeyIdOrArn } from '../aliases.js';
import { authorize } from '../keys.js';
import { keyArn } from '../model.js';
import { constraintViolation, notFound, type AwsError } from '../../aws/errors.js';
import type { Input } from '../input.js';
import { operation } from '../operation.js';
import { checkLockout, validateKeyPolicy } from '../policy/key-policy.js';
import { putKeyPolicyGuarded } from '../policy/quorum.js';
import { isMasterKeyLinkMigration } from '../policy/master-key-migration.js';

/**
 * Reads PolicyName (pattern [\w]+, 1-128), defaulting to `default`.
 * @throws {AwsError} ValidationException.
 */
export function readPolicyName(input: Input): string {
  const name = input.string('PolicyName', { min: 1, max: 128 }) ?? 'default';
  if (!/^[\w]+$/.test(name)) throw nameViolation(name);
  return name;
}

function nameViolation(name: string): AwsError {
  return constraintViolation('policyName', name.length <= 64 ? name : `${name.slice(0, 64)}…`, 'Member must satisfy regular expression pattern: [\\w]+');
}

/** AWS keys have exactly one policy, named `default`. */
export function requireDefaultPolicyName(name: string): void {
  if (name !== 'default') throw notFound('No such policy exists');
}

export const putKeyPolicy = operation('PutKeyPolicy', async (input, ctx) => {
  const keyId = input.string('KeyId', { required: true, min: 1, max: 2048 });
  const policyName = readPolicyName(input);
  const policy = input.string('Policy', { required: true, min: 1, max: 32768 });
  const bypass = input.boolean('BypassPolicyLockoutSafetyCheck') ?? false;
  const key = await resolveKeyIdOrArn(ctx, keyId);
  const migration = await isMasterKeyLinkMigration({
    store: ctx.deps.store,
    accountId: ctx.caller.accountId,
    callerArn: ctx.caller.arn,
    current: key.policy,
    next: policy,
  });
  // A template-2 wallet master key grants PutKeyPolicy to nobody; its move to template 3 is the one exception.
  if (!migration) await authorize(ctx, 'kms:PutKeyPolicy', key);
  else ctx.audit.keyArn = keyArn(key);
  requireDefaultPolicyName(policyName);
  validateKeyPolicy(policy);
  if (!bypass) await checkLockout(ctx, key, policy);
  await putKeyPolicyGuarded(ctx, key, policy);
  return {};
});
