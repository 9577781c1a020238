/**
 * IAM roles: CreateRole, GetRole, ListRoles, DeleteRole (IAM API Reference).
 * Names are unique regardless of case. The trust policy
 * (AssumeRolePolicyDocument) is checked by the trust-policy parser
 * (MalformedPolicyDocument) and returned URL-encoded (RFC 3986), as IAM does.
 * DeleteRole refuses a role that still has inline policies (DeleteConflict),
 * as IAM does, and ends every session of the role (at once in this process,
 * within the credential cache's TTL in others).
 */
import {
  deleteRole as deleteRoleRow,
  findRole,
  insertRole,
  listRoles as listRoleRows,
  rolePolicies,
  roleTags,
  type RoleRow,
} from '../../storage/iam-roles.repository.js';
import { deleteConflict, entityAlreadyExists, invalidInput, malformedPolicyDocument, noSuchEntity } from '../errors.js';
import { PATH, type QueryParams } from '../params.js';
import { el, isoTime, members, wrap } from '../xml.js';
import { readTags, tagsXml } from '../user-tags.js';
import { liveRoleSessionKeys } from '../../storage/sts-sessions.repository.js';
import { parseTrustPolicy, TrustPolicyError } from './trust-policy.js';
import { newRoleId } from '../../aws/ids.js';
import { roleAction, type RoleContext } from './context.js';
import { POLICY_TEXT } from '../inline-policy-params.js';

export const ROLE_NAME = { re: /^[\w+=,.@-]+$/, text: '[\\w+=,.@-]+' };
/** IAM's bounds on MaxSessionDuration, in seconds (1 hour to 12 hours). */
export const MIN_MAX_SESSION_DURATION = 3600;
export const MAX_MAX_SESSION_DURATION = 43200;
/** Beyond this many live sessions, the rest leave this process's credential cache within its TTL. */
const FORGET_LIMIT = 1000;

export function roleArn(accountId: string, path: string, name: string): string {
  return `arn:aws:iam::${accountId}:role${path}${name}`;
}

/** The fields of IAM's Role structure (Tags only where IAM returns them). */
function roleFields(r: RoleRow, tags?: ReadonlyArray<readonly [string, string]>): string {
  return (
    el('Path', r.path) +
    el('RoleName', r.roleName) +
    el('RoleId', r.roleId) +
    el('Arn', r.arn) +
    el('CreateDate', isoTime(r.createdAt)) +
    el('AssumeRolePolicyDocument', encodeURIComponent(r.trustPolicy)) +
    el('Description', r.description) +
    el('MaxSessionDuration', r.maxSessionDuration) +
    (tags && tags.length ? tagsXml(tags) : '')
  );
}

function roleXml(r: RoleRow, tags?: ReadonlyArray<readonly [string, string]>): string {
  return wrap('Role', roleFields(r, tags));
}

export function readRoleName(p: QueryParams): string {
  return p.string('RoleName', { required: true, min: 1, max: 64, pattern: ROLE_NAME });
}

/**
 * Authorizes `action` on the named role, then requires it to exist (IAM
 * answers AccessDenied before NoSuchEntity).
 * @throws {AwsError} AccessDenied, NoSuchEntity.
 */
export async function requireRoleAuthorized(ctx: RoleContext, action: string, name: string): Promise<RoleRow> {
  const found = await findRole(ctx.store.db, name);
  await ctx.authorize(action, found?.arn ?? roleArn(ctx.accountId, '/', name));
  if (!found) throw noSuchEntity(`The role with name ${name} cannot be found.`);
  return found;
}

export const createRole = roleAction('CreateRole', async (p, ctx) => {
  const name = readRoleName(p);
  const path = p.string('Path', { min: 1, max: 512, pattern: PATH }) ?? '/';
  const trustPolicy = p.string('AssumeRolePolicyDocument', { required: true, min: 1, max: 131072, secretish: true, pattern: POLICY_TEXT });
  const description = p.string('Description', { max: 1000 });
  const maxSessionDuration = p.integer('MaxSessionDuration', MIN_MAX_SESSION_DURATION, MAX_MAX_SESSION_DURATION) ?? MIN_MAX_SESSION_DURATION;
  const tags = readTags(p);
  if (p.string('PermissionsBoundary') !== undefined) throw invalidInput('Permissions boundaries are not supported by this custodian.');
  const arn = roleArn(ctx.accountId, path, name);
  await ctx.authorize('iam:CreateRole', arn);
  try {
    parseTrustPolicy(trustPolicy);
  } catch (e) {
    if (e instanceof TrustPolicyError) throw malformedPolicyDocument(e.message);
    throw e;
  }
  // A role's trust policy says who may become it (and key policies and grants may name it): a permission change.
  if (await findRole(ctx.store.db, name)) throw entityAlreadyExists(`Role with name ${name} already exists.`);
  await ctx.quorum.guard(ctx, {
    kind: 'CreateRole',
    target: name,
    payload: {
      RoleName: name,
      Path: path,
      AssumeRolePolicyDocument: trustPolicy,
      ...(description === undefined ? {} : { Description: description }),
      MaxSessionDuration: maxSessionDuration,
      Tags: tags.map(([Key, Value]) => ({ Key, Value })),
    },
    base: '',
    protocol: 'iam',
  });
  const role: RoleRow = { roleName: name, roleId: newRoleId(), path, arn, trustPolicy, description, maxSessionDuration, createdAt: ctx.info.now };
  if (!(await insertRole(ctx.store.db, role, tags))) throw entityAlreadyExists(`Role with name ${name} already exists.`);
  // A role of this name deleted earlier may still be cached by name.
  ctx.rolePolicies.invalidate(name);
  return roleXml(role, tags);
});

export const getRole = roleAction('GetRole', async (p, ctx) => {
  const role = await requireRoleAuthorized(ctx, 'iam:GetRole', readRoleName(p));
  return roleXml(role, await roleTags(ctx.store.db, role.roleName));
});

export const listRoles = roleAction('ListRoles', async (p, ctx) => {
  const pathPrefix = p.string('PathPrefix', { min: 1, max: 512, pattern: { re: /^\u002F[\u0021-\u007F]*$/, text: '\\u002F[\\u0021-\\u007F]*' } });
  const marker = p.string('Marker', { min: 1, max: 320 });
  const maxItems = p.integer('MaxItems', 1, 1000) ?? 100;
  await ctx.authorize('iam:ListRoles', roleArn(ctx.accountId, pathPrefix ?? '/', '*'));
  const afterName = marker === undefined ? undefined : Buffer.from(marker, 'base64url').toString('utf8');
  const rows = await listRoleRows(ctx.store.db, { afterName, limit: maxItems + 1, pathPrefix });
  const page = rows.slice(0, maxItems);
  const truncated = rows.length > maxItems;
  return (
    // IAM's ListRoles leaves out Tags.
    members(
      'Roles',
      page.map((r) => roleFields(r)),
    ) +
    el('IsTruncated', truncated) +
    (truncated ? el('Marker', Buffer.from(page[page.length - 1]!.roleName, 'utf8').toString('base64url')) : '')
  );
});

export const deleteRole = roleAction('DeleteRole', async (p, ctx) => {
  const role = await requireRoleAuthorized(ctx, 'iam:DeleteRole', readRoleName(p));
  if ((await rolePolicies(ctx.store.db, role.roleName)).length > 0) throw deleteConflict('Cannot delete entity, must delete policies first.');
  const live = await liveRoleSessionKeys(ctx.store.db, role.roleName, ctx.info.now, FORGET_LIMIT);
  await deleteRoleRow(ctx.store.db, role.roleName);
  ctx.rolePolicies.invalidate(role.roleName);
  // Sessions stop at once in this process; other processes drop them within the authenticator's cache TTL.
  for (const accessKeyId of live) ctx.authenticator.forget(accessKeyId);
  return undefined;
});
