/**
 * Inline permission policies of IAM roles: PutRolePolicy, GetRolePolicy,
 * DeleteRolePolicy, ListRolePolicies (IAM API Reference). Documents are
 * checked by the policy engine's parser as identity policies
 * (MalformedPolicyDocument) against IAM's aggregate limit for a role's inline
 * policies (10,240 characters, not counting white space). GetRolePolicy
 * returns the document URL-encoded (RFC 3986), as IAM does. These are what a
 * role's sessions may do (src/iam/roles/role-policies.ts feeds them to the
 * authorizer).
 */
import type { Kysely, Transaction } from 'kysely';
import type { Tables } from '../../storage/tables.js';
import { deleteRolePolicy as deleteRow, getRolePolicy as getRow, putRolePolicy as putRow, rolePolicies } from '../../storage/iam-roles.repository.js';
import { checkIdentityPolicy, readPolicyDocument, readPolicyName, significantLength } from '../inline-policy-params.js';
import { limitExceeded, noSuchEntity } from '../errors.js';
import { el, escapeXml, members } from '../xml.js';
import { readRoleName, requireRoleAuthorized } from './roles.js';
import { roleAction } from './context.js';

export const MAX_ROLE_INLINE_POLICY_CHARS = 10240;

export const putRolePolicy = roleAction('PutRolePolicy', async (p, ctx) => {
  const name = readRoleName(p);
  const policyName = readPolicyName(p);
  const document = readPolicyDocument(p);
  const role = await requireRoleAuthorized(ctx, 'iam:PutRolePolicy', name);
  checkIdentityPolicy(document);
  await checkRolePolicySize(ctx.store.db, role.roleName, policyName, document);
  await ctx.quorum.guard(ctx, {
    kind: 'PutRolePolicy',
    target: role.roleName,
    payload: { RoleName: role.roleName, PolicyName: policyName, PolicyDocument: document },
    base: (await getRow(ctx.store.db, role.roleName, policyName)) ?? '',
    protocol: 'iam',
  });
  await putRow(ctx.store.db, role.roleName, policyName, document, ctx.info.now);
  ctx.rolePolicies.invalidate(role.roleName);
  return undefined;
});

/**
 * IAM's aggregate limit on a role's inline policies, with `document` as `policyName`.
 * @throws {AwsError} LimitExceeded.
 */
export async function checkRolePolicySize(db: Kysely<Tables> | Transaction<Tables>, roleName: string, policyName: string, document: string): Promise<void> {
  const others = (await rolePolicies(db, roleName)).filter((x) => x.policyName !== policyName).reduce((n, x) => n + significantLength(x.document), 0);
  if (others + significantLength(document) > MAX_ROLE_INLINE_POLICY_CHARS) {
    throw limitExceeded(`Maximum policy size of ${MAX_ROLE_INLINE_POLICY_CHARS} bytes exceeded for role ${roleName}`);
  }
}

export const getRolePolicy = roleAction('GetRolePolicy', async (p, ctx) => {
  const name = readRoleName(p);
  const policyName = readPolicyName(p);
  const role = await requireRoleAuthorized(ctx, 'iam:GetRolePolicy', name);
  const doc = await getRow(ctx.store.db, role.roleName, policyName);
  if (doc === undefined) throw noSuchEntity(`The role policy with name ${policyName} cannot be found.`);
  return el('RoleName', role.roleName) + el('PolicyName', policyName) + el('PolicyDocument', encodeURIComponent(doc));
});

export const deleteRolePolicy = roleAction('DeleteRolePolicy', async (p, ctx) => {
  const name = readRoleName(p);
  const policyName = readPolicyName(p);
  const role = await requireRoleAuthorized(ctx, 'iam:DeleteRolePolicy', name);
  const current = await getRow(ctx.store.db, role.roleName, policyName);
  if (current === undefined) throw noSuchEntity(`The role policy with name ${policyName} cannot be found.`);
  // Deleting a policy widens access when it held a Deny.
  await ctx.quorum.guard(ctx, {
    kind: 'DeleteRolePolicy',
    target: role.roleName,
    payload: { RoleName: role.roleName, PolicyName: policyName },
    base: current,
    protocol: 'iam',
  });
  if (!(await deleteRow(ctx.store.db, role.roleName, policyName))) throw noSuchEntity(`The role policy with name ${policyName} cannot be found.`);
  ctx.rolePolicies.invalidate(role.roleName);
  return undefined;
});

export const listRolePolicies = roleAction('ListRolePolicies', async (p, ctx) => {
  const name = readRoleName(p);
  p.string('Marker', { min: 1, max: 320 });
  p.integer('MaxItems', 1, 1000);
  const role = await requireRoleAuthorized(ctx, 'iam:ListRolePolicies', name);
  const names = (await rolePolicies(ctx.store.db, role.roleName)).map((x) => escapeXml(x.policyName));
  return members('PolicyNames', names) + el('IsTruncated', false);
});
