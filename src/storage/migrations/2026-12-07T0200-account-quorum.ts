/**
 * The account-level quorum (docs/access-control.md, "The account rule"): one
 * rule for the whole account (N approvers, threshold M >= 2), the permission
 * changes proposed under it — IAM, key-policy, grant and alias changes alike —
 * and the votes on them. A change names its target in text (a user, a role,
 * an alias, a key ARN, `account`) and, when it concerns a key, the key id
 * (no foreign key: a change outlives a deleted key as a record). Frozen:
 * never edit a migration that has shipped; add a new one.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  const r = await sql<{ v: string }>`select version() as v`.execute(db).catch(() => null);
  const pg = !!r && String(r.rows[0]?.v ?? '').startsWith('PostgreSQL');
  const ms = pg ? sql`bigint` : sql`integer`;

  await db.schema
    .createTable('account_quorum_rule')
    .addColumn('scope', 'text', (c) => c.primaryKey())
    .addColumn('approvers', 'text', (c) => c.notNull())
    .addColumn('threshold', 'integer', (c) => c.notNull())
    .addColumn('ttl_seconds', 'integer', (c) => c.notNull())
    .addColumn('updated_at', ms, (c) => c.notNull())
    .addColumn('updated_by', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('account_changes')
    .addColumn('change_id', 'text', (c) => c.primaryKey())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('target', 'text', (c) => c.notNull())
    .addColumn('key_id', 'text')
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
    .addColumn('outcome', 'text')
    .addColumn('redeemed_at', ms)
    .execute();
  await db.schema.createIndex('account_changes_status').on('account_changes').columns(['status', 'created_at']).execute();
  await db.schema.createIndex('account_changes_proposer').on('account_changes').columns(['proposer_arn', 'payload_sha256']).execute();

  await db.schema
    .createTable('account_change_votes')
    .addColumn('change_id', 'text', (c) => c.notNull().references('account_changes.change_id').onDelete('cascade'))
    .addColumn('approver_arn', 'text', (c) => c.notNull())
    .addColumn('vote', 'text', (c) => c.notNull())
    .addColumn('voted_at', ms, (c) => c.notNull())
    .addPrimaryKeyConstraint('account_change_votes_pk', ['change_id', 'approver_arn'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const t of ['account_change_votes', 'account_changes', 'account_quorum_rule']) await db.schema.dropTable(t).execute();
}
