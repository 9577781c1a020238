/**
 * How approved account-rule changes to IAM are applied
 * (src/kms/policy/account-quorum.ts): user policies, user tags, tagged new
 * users, access keys for another user, new roles and role policies. Each
 * re-validates the change against the store as it is now — the user or role
 * still exists (or still does not), the policy or tags it replaces are
 * unchanged, the document still parses and fits IAM's limits — and writes in
 * the decision's transaction; the affected caches are dropped after the
 * commit, as the direct actions do.
 */
import type { Transaction } from 'kysely';
import type { Tables } from '../storage/tables.js';
import { deleteUserPolicy, findUser, getUserPolicy, insertUser, putUserPolicy, userTags, type UserRow } from '../storage/iam.repository.js';
import { deleteRolePolicy, findRole, getRolePolicy, insertRoleIn, putRolePolicy } from '../storage/iam-roles.repository.js';
import { parsePolicyDocument } from '../aws/policy/document.js';
import { newRoleId } from '../aws/ids.js';
import type { Authenticator } from '../aws/authenticator.js';
import { sha256Hex } from '../kms/policy/rule.js';
import { StaleChange, type AccountChange, type ChangeApplier } from '../kms/policy/account-quorum.js';
import type { Principals } from './principals.js';
import type { RolePolicies } from './roles/role-policies.js';
import { checkTagCount, removeTags, writeTags } from './user-tags.js';
import { checkUserPolicySize } from './user-policies.js';
import { checkRolePolicySize } from './roles/role-policy-actions.js';
import { roleArn } from './roles/roles.js';
import { parseTrustPolicy } from './roles/trust-policy.js';
import { iamId, userArn } from './users.js';

type Trx = Transaction<Tables>;
type Payload = Record<string, unknown>;

function tagsOf(payload: Payload): Array<[string, string]> {
  return ((payload.Tags as Array<{ Key: string; Value: string }> | undefined) ?? []).map((t) => [t.Key, t.Value]);
}

async function liveUser(trx: Trx, name: string): Promise<UserRow> {
  const user = await findUser(trx, name);
  if (!user) throw new StaleChange(`the user ${name} no longer exists`);
  return user;
}

/** A document that no longer parses (the parser changed since it was proposed) makes the change stale, not a server error. */
function parses(parse: () => unknown): void {
  try {
    parse();
  } catch (e) {
    throw new StaleChange(`the document is no longer valid: ${(e as Error).message}`);
  }
}

function unchanged(change: AccountChange, current: string, what: string): void {
  if (sha256Hex(current) !== change.baseSha256) throw new StaleChange(`${what} changed since the change was proposed`);
}

export function iamChangeAppliers(options: {
  principals: Principals;
  authenticator: Authenticator;
  rolePolicies: RolePolicies;
  accountId: string;
  /** A store handle outside the decision's transaction, for cache work after the commit. */
  keysOf: (userName: string) => Promise<ReadonlyArray<{ accessKeyId: string }>>;
}): Record<string, ChangeApplier> {
  const { principals, authenticator, rolePolicies, accountId } = options;
  const forgetUser = async (userName: string) => {
    principals.invalidate(userName);
    for (const k of await options.keysOf(userName)) authenticator.forget(k.accessKeyId);
  };
  return {
    PutUserPolicy: {
      protocol: 'iam',
      async apply(trx, change, p, now) {
        const user = await liveUser(trx, p.UserName as string);
        unchanged(change, (await getUserPolicy(trx, user.userName, p.PolicyName as string)) ?? '', 'the policy');
        parses(() => parsePolicyDocument(p.PolicyDocument as string, 'identity'));
        await checkUserPolicySize(trx, user.userName, p.PolicyName as string, p.PolicyDocument as string);
        await putUserPolicy(trx, user.userName, p.PolicyName as string, p.PolicyDocument as string, now);
      },
      applied: (_c, p) => forgetUser(p.UserName as string),
    },
    DeleteUserPolicy: {
      protocol: 'iam',
      async apply(trx, change, p) {
        const user = await liveUser(trx, p.UserName as string);
        unchanged(change, (await getUserPolicy(trx, user.userName, p.PolicyName as string)) ?? '', 'the policy');
        if (!(await deleteUserPolicy(trx, user.userName, p.PolicyName as string))) throw new StaleChange('the policy no longer exists');
      },
      applied: (_c, p) => forgetUser(p.UserName as string),
    },
    TagUser: {
      protocol: 'iam',
      async apply(trx, change, p) {
        const user = await liveUser(trx, p.UserName as string);
        const existing = await userTags(trx, user.userName);
        unchanged(change, JSON.stringify(existing), "the user's tags");
        checkTagCount(existing, tagsOf(p));
        await writeTags(trx, user.userName, existing, tagsOf(p));
      },
      applied: (_c, p) => forgetUser(p.UserName as string),
    },
    UntagUser: {
      protocol: 'iam',
      async apply(trx, change, p) {
        const user = await liveUser(trx, p.UserName as string);
        const existing = await userTags(trx, user.userName);
        unchanged(change, JSON.stringify(existing), "the user's tags");
        await removeTags(trx, user.userName, existing, p.TagKeys as string[]);
      },
      applied: (_c, p) => forgetUser(p.UserName as string),
    },
    CreateUser: {
      protocol: 'iam',
      async apply(trx, _change, p, now) {
        const name = p.UserName as string;
        const path = p.Path as string;
        const user: UserRow = { userName: name, userId: iamId('AIDA', 17), path, arn: userArn(accountId, path, name), createdAt: now };
        if (!(await insertUser(trx, user, tagsOf(p)))) throw new StaleChange(`a user named ${name} exists now`);
      },
      applied: (_c, p) => forgetUser(p.UserName as string),
    },
    // Approval lets the proposer collect one key by repeating CreateAccessKey (src/iam/access-keys.ts); nothing is written here.
    CreateAccessKey: {
      protocol: 'iam',
      async apply(trx, _change, p) {
        await liveUser(trx, p.UserName as string);
      },
    },
    CreateRole: {
      protocol: 'iam',
      async apply(trx, _change, p, now) {
        const name = p.RoleName as string;
        const path = p.Path as string;
        parses(() => parseTrustPolicy(p.AssumeRolePolicyDocument as string));
        const role = {
          roleName: name,
          roleId: newRoleId(),
          path,
          arn: roleArn(accountId, path, name),
          trustPolicy: p.AssumeRolePolicyDocument as string,
          description: p.Description as string | undefined,
          maxSessionDuration: p.MaxSessionDuration as number,
          createdAt: now,
        };
        if (!(await insertRoleIn(trx, role, tagsOf(p)))) throw new StaleChange(`a role named ${name} exists now`);
      },
      applied: (_c, p) => rolePolicies.invalidate(p.RoleName as string),
    },
    PutRolePolicy: {
      protocol: 'iam',
      async apply(trx, change, p, now) {
        const role = await findRole(trx, p.RoleName as string);
        if (!role) throw new StaleChange(`the role ${p.RoleName as string} no longer exists`);
        unchanged(change, (await getRolePolicy(trx, role.roleName, p.PolicyName as string)) ?? '', 'the policy');
        parses(() => parsePolicyDocument(p.PolicyDocument as string, 'identity'));
        await checkRolePolicySize(trx, role.roleName, p.PolicyName as string, p.PolicyDocument as string);
        await putRolePolicy(trx, role.roleName, p.PolicyName as string, p.PolicyDocument as string, now);
      },
      applied: (_c, p) => rolePolicies.invalidate(p.RoleName as string),
    },
    DeleteRolePolicy: {
      protocol: 'iam',
      async apply(trx, change, p) {
        const role = await findRole(trx, p.RoleName as string);
        if (!role) throw new StaleChange(`the role ${p.RoleName as string} no longer exists`);
        unchanged(change, (await getRolePolicy(trx, role.roleName, p.PolicyName as string)) ?? '', 'the policy');
        if (!(await deleteRolePolicy(trx, role.roleName, p.PolicyName as string))) throw new StaleChange('the policy no longer exists');
      },
      applied: (_c, p) => rolePolicies.invalidate(p.RoleName as string),
    },
  };
}
