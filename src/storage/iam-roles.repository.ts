/**
 * SQL for IAM roles, their tags and inline permission policies. Role names
 * are unique regardless of case, as in IAM; lookups by name are
 * case-insensitive and return the name as created.
 */
import type { Kysely, Transaction } from 'kysely';
import type { Tables } from './tables.js';

type Db = Kysely<Tables> | Transaction<Tables>;

export interface RoleRow {
  roleName: string;
  roleId: string;
  path: string;
  arn: string;
  trustPolicy: string;
  description: string | undefined;
  maxSessionDuration: number;
  createdAt: number;
}

function toRole(r: Tables['iam_roles']): RoleRow {
  return {
    roleName: r.role_name,
    roleId: r.role_id,
    path: r.path,
    arn: r.arn,
    trustPolicy: r.trust_policy,
    description: r.description ?? undefined,
    maxSessionDuration: Number(r.max_session_duration),
    createdAt: Number(r.created_at),
  };
}

/** Inserts a role and its tags; returns false (and inserts nothing) when the name is taken in any case. */
export async function insertRole(db: Kysely<Tables>, role: RoleRow, tags: ReadonlyArray<readonly [string, string]>): Promise<boolean> {
  return db.transaction().execute((tx) => insertRoleIn(tx, role, tags));
}

/** insertRole inside a transaction the caller holds. */
export async function insertRoleIn(tx: Db, role: RoleRow, tags: ReadonlyArray<readonly [string, string]>): Promise<boolean> {
  {
    const inserted = await tx
      .insertInto('iam_roles')
      .values({
        role_name: role.roleName,
        role_name_lower: role.roleName.toLowerCase(),
        role_id: role.roleId,
        path: role.path,
        arn: role.arn,
        trust_policy: role.trustPolicy,
        description: role.description ?? null,
        max_session_duration: role.maxSessionDuration,
        created_at: role.createdAt,
      })
      .onConflict((oc) => oc.doNothing())
      .executeTakeFirst();
    if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 0) return false;
    if (tags.length)
      await tx
        .insertInto('iam_role_tags')
        .values(tags.map(([k, v]) => ({ role_name: role.roleName, tag_key: k, tag_value: v })))
        .execute();
    return true;
  }
}

export async function findRole(db: Db, roleName: string): Promise<RoleRow | undefined> {
  const r = await db.selectFrom('iam_roles').selectAll().where('role_name_lower', '=', roleName.toLowerCase()).executeTakeFirst();
  return r ? toRole(r) : undefined;
}

/** Roles ordered by name, after `afterName`, optionally under a path prefix. */
export async function listRoles(db: Db, options: { afterName?: string | undefined; limit: number; pathPrefix?: string | undefined }): Promise<RoleRow[]> {
  let q = db.selectFrom('iam_roles').selectAll().orderBy('role_name').limit(options.limit);
  if (options.afterName !== undefined) q = q.where('role_name', '>', options.afterName);
  if (options.pathPrefix !== undefined && options.pathPrefix !== '/') {
    q = q.where('path', 'like', `${options.pathPrefix.replace(/[\\%_]/g, '\\$&')}%`);
  }
  return (await q.execute()).map(toRole);
}

/** Deletes a role; its tags, policies and sessions go with it (ON DELETE CASCADE, and explicitly for safety). */
export async function deleteRole(db: Kysely<Tables>, roleName: string): Promise<void> {
  await db.transaction().execute(async (tx) => {
    await tx.deleteFrom('sts_sessions').where('role_name', '=', roleName).execute();
    await tx.deleteFrom('iam_role_tags').where('role_name', '=', roleName).execute();
    await tx.deleteFrom('iam_role_policies').where('role_name', '=', roleName).execute();
    await tx.deleteFrom('iam_roles').where('role_name', '=', roleName).execute();
  });
}

export async function roleTags(db: Db, roleName: string): Promise<Array<[string, string]>> {
  const rows = await db.selectFrom('iam_role_tags').select(['tag_key', 'tag_value']).where('role_name', '=', roleName).orderBy('tag_key').execute();
  return rows.map((r) => [r.tag_key, r.tag_value]);
}

/** Creates or replaces an inline policy. */
export async function putRolePolicy(db: Db, roleName: string, policyName: string, document: string, now: number): Promise<void> {
  await db
    .insertInto('iam_role_policies')
    .values({ role_name: roleName, policy_name: policyName, document, updated_at: now })
    .onConflict((oc) => oc.columns(['role_name', 'policy_name']).doUpdateSet({ document, updated_at: now }))
    .execute();
}

export async function getRolePolicy(db: Db, roleName: string, policyName: string): Promise<string | undefined> {
  const r = await db
    .selectFrom('iam_role_policies')
    .select('document')
    .where('role_name', '=', roleName)
    .where('policy_name', '=', policyName)
    .executeTakeFirst();
  return r?.document;
}

/** Returns false when there was no such policy. */
export async function deleteRolePolicy(db: Db, roleName: string, policyName: string): Promise<boolean> {
  const r = await db.deleteFrom('iam_role_policies').where('role_name', '=', roleName).where('policy_name', '=', policyName).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

/** The names and documents of a role's inline policies, ordered by name. */
export async function rolePolicies(db: Db, roleName: string): Promise<Array<{ policyName: string; document: string }>> {
  const rows = await db.selectFrom('iam_role_policies').select(['policy_name', 'document']).where('role_name', '=', roleName).orderBy('policy_name').execute();
  return rows.map((r) => ({ policyName: r.policy_name, document: r.document }));
}
