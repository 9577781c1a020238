/**
 * IAM principals and quorum approvals: users (unique by name regardless of
 * case, as IAM), user tags, inline user policies; per-key quorum rules,
 * proposed permission changes and the votes on them. Frozen: never edit a
 * migration that has shipped; add a new one.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  const pg = await isPostgres(db);
  const ms = pg ? sql`bigint` : sql`integer`;

  await db.schema
    .createTable('iam_users')
    .addColumn('user_name', 'text', (c) => c.primaryKey())
    .addColumn('user_name_lower', 'text', (c) => c.notNull().unique())
    .addColumn('user_id', 'text', (c) => c.notNull().unique())
    .addColumn('path', 'text', (c) => c.notNull())
    .addColumn('arn', 'text', (c) => c.notNull())
    .addColumn('created_at', ms, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('iam_user_tags')
    .addColumn('user_name', 'text', (c) => c.notNull().references('iam_users.user_name').onDelete('cascade'))
    .addColumn('tag_key', 'text', (c) => c.notNull())
    .addColumn('tag_value', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('iam_user_tags_pk', ['user_name', 'tag_key'])
    .execute();

  await db.schema
    .createTable('iam_user_policies')
    .addColumn('user_name', 'text', (c) => c.notNull().references('iam_users.user_name').onDelete('cascade'))
    .addColumn('policy_name', 'text', (c) => c.notNull())
    .addColumn('document', 'text', (c) => c.notNull())
    .addColumn('updated_at', ms, (c) => c.notNull())
    .addPrimaryKeyConstraint('iam_user_policies_pk', ['user_name', 'policy_name'])
    .execute();

  await db.schema.createIndex('iam_access_keys_user').on('iam_access_keys').column('user_name').execute();

  await db.schema
    .createTable('kms_quorum_rules')
    .addColumn('key_id', 'text', (c) => c.primaryKey().references('kms_keys.key_id').onDelete('cascade'))
    .addColumn('approvers', 'text', (c) => c.notNull())
    .addColumn('threshold', 'integer', (c) => c.notNull())
    .addColumn('ttl_seconds', 'integer', (c) => c.notNull())
    .addColumn('updated_at', ms, (c) => c.notNull())
    .addColumn('updated_by', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('kms_policy_changes')
    .addColumn('change_id', 'text', (c) => c.primaryKey())
    .addColumn('key_id', 'text', (c) => c.notNull().references('kms_keys.key_id').onDelete('cascade'))
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('payload', 'text', (c) => c.notNull())
    .addColumn('payload_sha256', 'text', (c) => c.notNull())
    .addColumn('base_sha256', 'text', (c) => c.notNull())
    .addColumn('proposer_arn', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('threshold', 'integer', (c) => c.notNull())
    .addColumn('approvers', 'text', (c) => c.notNull())
    .addColumn('created_at', ms, (c) => c.notNull())
    .addColumn('expires_at', ms, (c) => c.notNull())
    .addColumn('decided_at', ms)
    .execute();
  await db.schema.createIndex('kms_policy_changes_key').on('kms_policy_changes').columns(['key_id', 'status']).execute();

  await db.schema
    .createTable('kms_policy_change_votes')
    .addColumn('change_id', 'text', (c) => c.notNull().references('kms_policy_changes.change_id').onDelete('cascade'))
    .addColumn('approver_arn', 'text', (c) => c.notNull())
    .addColumn('vote', 'text', (c) => c.notNull())
    .addColumn('voted_at', ms, (c) => c.notNull())
    .addPrimaryKeyConstraint('kms_policy_change_votes_pk', ['change_id', 'approver_arn'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const t of ['kms_policy_change_votes', 'kms_policy_changes', 'kms_quorum_rules', 'iam_user_policies', 'iam_user_tags', 'iam_users']) {
    await db.schema.dropTable(t).execute();
  }
  await db.schema.dropIndex('iam_access_keys_user').execute();
}

async function isPostgres(db: Kysely<any>): Promise<boolean> {
  const r = await sql<{ v: string }>`select version() as v`.execute(db).catch(() => null);
  return !!r && String(r.rows[0]?.v ?? '').startsWith('PostgreSQL');
}
