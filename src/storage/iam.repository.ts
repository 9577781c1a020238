/**
 * SQL for IAM users, their tags and inline policies, and the per-user side of
 * iam_access_keys (list, status, delete). User names are unique regardless of
 * case, as in IAM; lookups by name are case-insensitive and return the name as
 * created. Sealed secrets pass through untouched.
 */
import type { Kysely, Transaction } from 'kysely';
import type { Tables } from './tables.js';

type Db = Kysely<Tables> | Transaction<Tables>;

export interface UserRow {
  userName: string;
  userId: string;
  path: string;
  arn: string;
  createdAt: number;
}

function toUser(r: Tables['iam_users']): UserRow {
  return { userName: r.user_name, userId: r.user_id, path: r.path, arn: r.arn, createdAt: Number(r.created_at) };
}

/** Inserts a user; returns false (and inserts nothing) when the name is taken in any case. */
export async function insertUser(db: Db, u: UserRow, tags: ReadonlyArray<readonly [string, string]>): Promise<boolean> {
  const inserted = await db
    .insertInto('iam_users')
    .values({ user_name: u.userName, user_name_lower: u.userName.toLowerCase(), user_id: u.userId, path: u.path, arn: u.arn, created_at: u.createdAt })
    .onConflict((oc) => oc.doNothing())
    .executeTakeFirst();
  if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 0) return false;
  if (tags.length)
    await db
      .insertInto('iam_user_tags')
      .values(tags.map(([k, v]) => ({ user_name: u.userName, tag_key: k, tag_value: v })))
      .execute();
  return true;
}

export async function findUser(db: Db, userName: string): Promise<UserRow | undefined> {
  const r = await db.selectFrom('iam_users').selectAll().where('user_name_lower', '=', userName.toLowerCase()).executeTakeFirst();
  return r ? toUser(r) : undefined;
}

/** Users by name, after `afterName`, optionally under a path prefix. */
export async function listUsers(db: Db, options: { afterName?: string | undefined; limit: number; pathPrefix?: string | undefined }): Promise<UserRow[]> {
  let q = db.selectFrom('iam_users').selectAll().orderBy('user_name').limit(options.limit);
  if (options.afterName !== undefined) q = q.where('user_name', '>', options.afterName);
  if (options.pathPrefix !== undefined && options.pathPrefix !== '/') q = q.where('path', 'like', `${options.pathPrefix.replace(/[\\%_]/g, '\\$&')}%`);
  return (await q.execute()).map(toUser);
}

/** Deletes a user and its tags (access keys and policies are refused or removed by the caller first). */
export async function deleteUser(db: Db, userName: string): Promise<void> {
  await db.deleteFrom('iam_user_tags').where('user_name', '=', userName).execute();
  await db.deleteFrom('iam_users').where('user_name', '=', userName).execute();
}

// Tags.

export async function userTags(db: Db, userName: string): Promise<Array<[string, string]>> {
  const rows = await db.selectFrom('iam_user_tags').select(['tag_key', 'tag_value']).where('user_name', '=', userName).orderBy('tag_key').execute();
  return rows.map((r) => [r.tag_key, r.tag_value]);
}

/** Adds or replaces tags. */
export async function putUserTags(db: Db, userName: string, tags: ReadonlyArray<readonly [string, string]>): Promise<void> {
  for (const [k, v] of tags) {
    await db
      .insertInto('iam_user_tags')
      .values({ user_name: userName, tag_key: k, tag_value: v })
      .onConflict((oc) => oc.columns(['user_name', 'tag_key']).doUpdateSet({ tag_value: v }))
      .execute();
  }
}

export async function removeUserTags(db: Db, userName: string, keys: readonly string[]): Promise<void> {
  if (keys.length)
    await db
      .deleteFrom('iam_user_tags')
      .where('user_name', '=', userName)
      .where('tag_key', 'in', [...keys])
      .execute();
}

// Inline policies.

export async function putUserPolicy(db: Db, userName: string, policyName: string, document: string, now: number): Promise<void> {
  await db
    .insertInto('iam_user_policies')
    .values({ user_name: userName, policy_name: policyName, document, updated_at: now })
    .onConflict((oc) => oc.columns(['user_name', 'policy_name']).doUpdateSet({ document, updated_at: now }))
    .execute();
}

export async function getUserPolicy(db: Db, userName: string, policyName: string): Promise<string | undefined> {
  const r = await db
    .selectFrom('iam_user_policies')
    .select('document')
    .where('user_name', '=', userName)
    .where('policy_name', '=', policyName)
    .executeTakeFirst();
  return r?.document;
}

/** Deletes one policy; returns whether it existed. */
export async function deleteUserPolicy(db: Db, userName: string, policyName: string): Promise<boolean> {
  const r = await db.deleteFrom('iam_user_policies').where('user_name', '=', userName).where('policy_name', '=', policyName).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

export async function listUserPolicyNames(db: Db, userName: string): Promise<string[]> {
  const rows = await db.selectFrom('iam_user_policies').select('policy_name').where('user_name', '=', userName).orderBy('policy_name').execute();
  return rows.map((r) => r.policy_name);
}

/** Every inline policy document of a user (for authorization). */
export async function userPolicyDocuments(db: Db, userName: string): Promise<string[]> {
  const rows = await db.selectFrom('iam_user_policies').select('document').where('user_name', '=', userName).orderBy('policy_name').execute();
  return rows.map((r) => r.document);
}

// Access keys, per user.

export interface AccessKeyMetadata {
  accessKeyId: string;
  userName: string;
  status: 'Active' | 'Inactive';
  createdAt: number;
}

export async function listUserAccessKeys(db: Db, userName: string): Promise<AccessKeyMetadata[]> {
  const rows = await db
    .selectFrom('iam_access_keys')
    .select(['access_key_id', 'user_name', 'status', 'created_at'])
    .where('user_name', '=', userName)
    .orderBy('created_at')
    .orderBy('access_key_id')
    .execute();
  return rows.map((r) => ({ accessKeyId: r.access_key_id, userName: r.user_name, status: r.status as 'Active' | 'Inactive', createdAt: Number(r.created_at) }));
}

/** Deletes one of a user's access keys; returns whether it existed. */
export async function deleteUserAccessKey(db: Db, userName: string, accessKeyId: string): Promise<boolean> {
  const r = await db.deleteFrom('iam_access_keys').where('user_name', '=', userName).where('access_key_id', '=', accessKeyId).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

/** Sets a key's status; returns whether it existed. */
export async function setAccessKeyStatus(db: Db, userName: string, accessKeyId: string, status: 'Active' | 'Inactive'): Promise<boolean> {
  const r = await db
    .updateTable('iam_access_keys')
    .set({ status })
    .where('user_name', '=', userName)
    .where('access_key_id', '=', accessKeyId)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}
