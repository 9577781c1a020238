/**
 * Inline identity policies of IAM users: PutUserPolicy, GetUserPolicy,
 * DeleteUserPolicy, ListUserPolicies (IAM API Reference). Documents are
 * checked by the policy engine's parser (MalformedPolicyDocument) and IAM's
 * aggregate size limit for a user's inline policies (2,048 characters, not
 * counting white space). GetUserPolicy returns the document URL-encoded
 * (RFC 3986), as IAM does.
 */
import type { Kysely, Transaction } from 'kysely';
import type { Tables } from '../storage/tables.js';
import {
  deleteUserPolicy as deletePolicyRow,
  getUserPolicy as getPolicyRow,
  listUserPolicyNames,
  putUserPolicy as putPolicyRow,
  userPolicyDocuments,
} from '../storage/iam.repository.js';
import { checkIdentityPolicy, readPolicyDocument, readPolicyName, significantLength } from './inline-policy-params.js';
import { limitExceeded, noSuchEntity } from './errors.js';
import { iamAction } from './context.js';
import { el, escapeXml, members } from './xml.js';
import { readUserName, requireUserAuthorized } from './users.js';

export const MAX_INLINE_POLICY_CHARS = 2048;

export const putUserPolicy = iamAction('PutUserPolicy', async (p, ctx) => {
  const name = readUserName(p, true);
  const policyName = readPolicyName(p);
  const document = readPolicyDocument(p);
  const user = await requireUserAuthorized(ctx, 'iam:PutUserPolicy', name);
  checkIdentityPolicy(document);
  await checkUserPolicySize(ctx.store.db, user.userName, policyName, document);
  await ctx.quorum.guard(ctx, {
    kind: 'PutUserPolicy',
    target: user.userName,
    payload: { UserName: user.userName, PolicyName: policyName, PolicyDocument: document },
    base: (await getPolicyRow(ctx.store.db, user.userName, policyName)) ?? '',
    protocol: 'iam',
  });
  await putPolicyRow(ctx.store.db, user.userName, policyName, document, ctx.info.now);
  ctx.principals.invalidate(user.userName);
  return undefined;
});

/**
 * IAM's aggregate limit on a user's inline policies, with `document` as `policyName`.
 * @throws {AwsError} LimitExceeded.
 */
export async function checkUserPolicySize(db: Kysely<Tables> | Transaction<Tables>, userName: string, policyName: string, document: string): Promise<void> {
  const names = await listUserPolicyNames(db, userName);
  const docs = await userPolicyDocuments(db, userName);
  const others = docs.filter((_, i) => names[i] !== policyName).reduce((n, d) => n + significantLength(d), 0);
  if (others + significantLength(document) > MAX_INLINE_POLICY_CHARS) {
    throw limitExceeded(`Maximum policy size of ${MAX_INLINE_POLICY_CHARS} bytes exceeded for user ${userName}`);
  }
}

export const getUserPolicy = iamAction('GetUserPolicy', async (p, ctx) => {
  const name = readUserName(p, true);
  const policyName = readPolicyName(p);
  const user = await requireUserAuthorized(ctx, 'iam:GetUserPolicy', name);
  const doc = await getPolicyRow(ctx.store.db, user.userName, policyName);
  if (doc === undefined) throw noSuchEntity(`The user policy with name ${policyName} cannot be found.`);
  return el('UserName', user.userName) + el('PolicyName', policyName) + el('PolicyDocument', encodeURIComponent(doc));
});

export const deleteUserPolicy = iamAction('DeleteUserPolicy', async (p, ctx) => {
  const name = readUserName(p, true);
  const policyName = readPolicyName(p);
  const user = await requireUserAuthorized(ctx, 'iam:DeleteUserPolicy', name);
  const current = await getPolicyRow(ctx.store.db, user.userName, policyName);
  if (current === undefined) throw noSuchEntity(`The user policy with name ${policyName} cannot be found.`);
  // Deleting a policy widens access when it held a Deny.
  await ctx.quorum.guard(ctx, {
    kind: 'DeleteUserPolicy',
    target: user.userName,
    payload: { UserName: user.userName, PolicyName: policyName },
    base: current,
    protocol: 'iam',
  });
  if (!(await deletePolicyRow(ctx.store.db, user.userName, policyName))) throw noSuchEntity(`The user policy with name ${policyName} cannot be found.`);
  ctx.principals.invalidate(user.userName);
  return undefined;
});

export const listUserPolicies = iamAction('ListUserPolicies', async (p, ctx) => {
  const name = readUserName(p, true);
  p.string('Marker', { min: 1, max: 320 });
  p.integer('MaxItems', 1, 1000);
  const user = await requireUserAuthorized(ctx, 'iam:ListUserPolicies', name);
  return members('PolicyNames', (await listUserPolicyNames(ctx.store.db, user.userName)).map(escapeXml)) + el('IsTruncated', false);
});
