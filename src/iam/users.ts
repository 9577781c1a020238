/**
 * IAM users: CreateUser, GetUser, ListUsers, DeleteUser (IAM API Reference).
 * Names are unique regardless of case. `root` is reserved: the account root
 * principal's access keys are filed under that name. DeleteUser refuses a
 * user that still has access keys or policies (DeleteConflict), as IAM does.
 */
import { randomInt } from 'node:crypto';
import {
  deleteUser as deleteUserRow,
  findUser,
  insertUser,
  listUserAccessKeys,
  listUserPolicyNames,
  listUsers as listUserRows,
  userTags,
  type UserRow,
} from '../storage/iam.repository.js';
import { deleteConflict, entityAlreadyExists, invalidInput, noSuchEntity } from './errors.js';
import { iamAction } from './context.js';
import { PATH } from './params.js';
import { el, isoTime, members, wrap } from './xml.js';
import { readTags, tagsXml } from './user-tags.js';
import { readUserName, requireUserAuthorized, userArn } from './user-lookup.js';

export { readUserName, requireUserAuthorized, userArn } from './user-lookup.js';
import { principalFromArn } from '../aws/policy/request.js';

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** An IAM-shaped unique id: a 4-letter prefix and 17 (user) or 16 (access key) base32 characters. */
export function iamId(prefix: string, length: number): string {
  let s = prefix;
  for (let i = 0; i < length; i++) s += BASE32[randomInt(BASE32.length)];
  return s;
}

/** The fields of IAM's User structure (Tags only where IAM returns them). */
function userFields(u: UserRow, tags?: ReadonlyArray<readonly [string, string]>): string {
  return (
    el('Path', u.path) +
    el('UserName', u.userName) +
    el('UserId', u.userId) +
    el('Arn', u.arn) +
    el('CreateDate', isoTime(u.createdAt)) +
    (tags && tags.length ? tagsXml(tags) : '')
  );
}

export function userXml(u: UserRow, tags?: ReadonlyArray<readonly [string, string]>): string {
  return wrap('User', userFields(u, tags));
}

/**
 * Authorizes `action` on the named user, then requires it to exist (IAM
 * answers AccessDenied before NoSuchEntity).
 * @throws {AwsError} AccessDenied, NoSuchEntity.
 */
export const createUser = iamAction('CreateUser', async (p, ctx) => {
  const name = readUserName(p, true);
  const path = p.string('Path', { min: 1, max: 512, pattern: PATH }) ?? '/';
  const tags = readTags(p);
  if (p.string('PermissionsBoundary') !== undefined) throw invalidInput('Permissions boundaries are not supported by this custodian.');
  const arn = userArn(ctx.accountId, path, name);
  await ctx.authorize('iam:CreateUser', arn);
  if (tags.length) await ctx.authorize('iam:TagUser', arn);
  if (name.toLowerCase() === 'root') throw invalidInput('The user name root is reserved for the account root principal.');
  if (tags.length) {
    // Tags are principal tags, which policies condition on: a tagged user is a permission change.
    if (await findUser(ctx.store.db, name)) throw entityAlreadyExists(`User with name ${name} already exists.`);
    await ctx.quorum.guard(ctx, {
      kind: 'CreateUser',
      target: name,
      payload: { UserName: name, Path: path, Tags: tags.map(([Key, Value]) => ({ Key, Value })) },
      base: '',
      protocol: 'iam',
    });
  }
  const user: UserRow = { userName: name, userId: iamId('AIDA', 17), path, arn, createdAt: ctx.info.now };
  const inserted = await ctx.store.db.transaction().execute((trx) => insertUser(trx, user, tags));
  if (!inserted) throw entityAlreadyExists(`User with name ${name} already exists.`);
  return userXml(user, tags);
});

export const getUser = iamAction('GetUser', async (p, ctx) => {
  const name = readUserName(p);
  if (name === undefined) {
    const me = principalFromArn(ctx.caller.arn, ctx.caller.accountId);
    await ctx.authorize('iam:GetUser', ctx.caller.arn);
    if (me.kind === 'root') return wrap('User', el('UserId', ctx.accountId) + el('Arn', ctx.caller.arn));
    if (me.kind !== 'user') throw invalidInput('Must specify userName when calling with non-User credentials');
    const self = await findUser(ctx.store.db, ctx.caller.userName);
    if (!self) throw noSuchEntity(`The user with name ${ctx.caller.userName} cannot be found.`);
    return userXml(self, await userTags(ctx.store.db, self.userName));
  }
  const found = await requireUserAuthorized(ctx, 'iam:GetUser', name);
  return userXml(found, await userTags(ctx.store.db, found.userName));
});

export const listUsers = iamAction('ListUsers', async (p, ctx) => {
  const pathPrefix = p.string('PathPrefix', { min: 1, max: 512, pattern: { re: /^\u002F[\u0021-\u007F]*$/, text: '\\u002F[\\u0021-\\u007F]*' } });
  const marker = p.string('Marker', { min: 1, max: 320, pattern: { re: /^[\u0020-\u00FF]+$/, text: '[\\u0020-\\u00FF]+' } });
  const maxItems = p.integer('MaxItems', 1, 1000) ?? 100;
  await ctx.authorize('iam:ListUsers', `arn:aws:iam::${ctx.accountId}:user/`);
  const afterName = marker === undefined ? undefined : Buffer.from(marker, 'base64url').toString('utf8');
  const rows = await listUserRows(ctx.store.db, { afterName, limit: maxItems + 1, pathPrefix });
  const page = rows.slice(0, maxItems);
  const truncated = rows.length > maxItems;
  return (
    members(
      'Users',
      page.map((u) => userFields(u)),
    ) +
    el('IsTruncated', truncated) +
    (truncated ? el('Marker', Buffer.from(page[page.length - 1]!.userName, 'utf8').toString('base64url')) : '')
  );
});

export const deleteUser = iamAction('DeleteUser', async (p, ctx) => {
  const name = readUserName(p, true);
  const found = await requireUserAuthorized(ctx, 'iam:DeleteUser', name);
  if ((await listUserAccessKeys(ctx.store.db, found.userName)).length) throw deleteConflict('Cannot delete entity, must delete access keys first.');
  if ((await listUserPolicyNames(ctx.store.db, found.userName)).length) throw deleteConflict('Cannot delete entity, must delete policies first.');
  await ctx.store.db.transaction().execute((trx) => deleteUserRow(trx, found.userName));
  ctx.principals.invalidate(found.userName);
  return undefined;
});
