/**
 * IAM roles and STS sessions: roles (unique by name regardless of case, as
 * IAM) with their trust policy, tags and inline permission policies; and the
 * temporary credentials AssumeRoleWithWebIdentity issues. A session row holds
 * the SHA-256 of its session token and its secret sealed under the root of
 * trust (bound to the session id), never either in clear. Sessions go with
 * their role (ON DELETE CASCADE). Frozen: never edit a migration that has
 * shipped; add a new one.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  const pg = await isPostgres(db);
  const bytes = pg ? sql`bytea` : sql`blob`;
  const ms = pg ? sql`bigint` : sql`integer`;

  await db.schema
    .createTable('iam_roles')
    .addColumn('role_name', 'text', (c) => c.primaryKey())
    .addColumn('role_name_lower', 'text', (c) => c.notNull().unique())
    .addColumn('role_id', 'text', (c) => c.notNull().unique())
    .addColumn('path', 'text', (c) => c.notNull())
    .addColumn('arn', 'text', (c) => c.notNull())
    .addColumn('trust_policy', 'text', (c) => c.notNull())
    .addColumn('description', 'text')
    .addColumn('max_session_duration', 'integer', (c) => c.notNull())
    .addColumn('created_at', ms, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('iam_role_tags')
    .addColumn('role_name', 'text', (c) => c.notNull().references('iam_roles.role_name').onDelete('cascade'))
    .addColumn('tag_key', 'text', (c) => c.notNull())
    .addColumn('tag_value', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('iam_role_tags_pk', ['role_name', 'tag_key'])
    .execute();

  await db.schema
    .createTable('iam_role_policies')
    .addColumn('role_name', 'text', (c) => c.notNull().references('iam_roles.role_name').onDelete('cascade'))
    .addColumn('policy_name', 'text', (c) => c.notNull())
    .addColumn('document', 'text', (c) => c.notNull())
    .addColumn('updated_at', ms, (c) => c.notNull())
    .addPrimaryKeyConstraint('iam_role_policies_pk', ['role_name', 'policy_name'])
    .execute();

  await db.schema
    .createTable('sts_sessions')
    .addColumn('session_id', 'text', (c) => c.primaryKey())
    .addColumn('access_key_id', 'text', (c) => c.notNull().unique())
    .addColumn('token_sha256', 'text', (c) => c.notNull())
    .addColumn('sealed_secret', bytes, (c) => c.notNull())
    .addColumn('role_name', 'text', (c) => c.notNull().references('iam_roles.role_name').onDelete('cascade'))
    .addColumn('role_id', 'text', (c) => c.notNull())
    .addColumn('session_name', 'text', (c) => c.notNull())
    .addColumn('principal_arn', 'text', (c) => c.notNull())
    .addColumn('tags', 'text', (c) => c.notNull())
    .addColumn('issuer', 'text', (c) => c.notNull())
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('audience', 'text', (c) => c.notNull())
    .addColumn('created_at', ms, (c) => c.notNull())
    .addColumn('expires_at', ms, (c) => c.notNull())
    .addColumn('revoked_at', ms)
    .execute();
  await db.schema.createIndex('sts_sessions_role').on('sts_sessions').column('role_name').execute();
  await db.schema.createIndex('sts_sessions_expires').on('sts_sessions').column('expires_at').execute();
  await db.schema.createIndex('sts_sessions_subject').on('sts_sessions').columns(['issuer', 'subject']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const t of ['sts_sessions', 'iam_role_policies', 'iam_role_tags', 'iam_roles']) {
    await db.schema.dropTable(t).execute();
  }
}

async function isPostgres(db: Kysely<any>): Promise<boolean> {
  const r = await sql<{ v: string }>`select version() as v`.execute(db).catch(() => null);
  return !!r && String(r.rows[0]?.v ?? '').startsWith('PostgreSQL');
}
