/**
 * The audit trail's tables: the hash-chained events, the one-row chain head that
 * serializes appends across processes, signed checkpoints of the head (like
 * CloudTrail digest files), and the public keys that verify them. Frozen: never
 * edit a migration that has shipped; add a new one.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  const pg = await isPostgres(db);
  const ms = pg ? sql`bigint` : sql`integer`;

  await db.schema
    .createTable('audit_events')
    .addColumn('seq', ms, (c) => c.primaryKey())
    .addColumn('time', ms, (c) => c.notNull())
    .addColumn('request_id', 'text', (c) => c.notNull())
    .addColumn('service', 'text', (c) => c.notNull())
    .addColumn('operation', 'text', (c) => c.notNull())
    .addColumn('principal_arn', 'text')
    .addColumn('principal_tags', 'text', (c) => c.notNull())
    .addColumn('access_key_id', 'text')
    .addColumn('source_ip', 'text', (c) => c.notNull())
    .addColumn('user_agent', 'text', (c) => c.notNull())
    .addColumn('key_arn', 'text')
    .addColumn('encryption_context', 'text')
    .addColumn('signing_algorithm', 'text')
    .addColumn('outcome', 'text', (c) => c.notNull())
    .addColumn('error_code', 'text')
    .addColumn('hash', 'text', (c) => c.notNull())
    .execute();
  // `audit query --key` and `--principal` read newest-first by these.
  await db.schema.createIndex('audit_events_key').on('audit_events').columns(['key_arn', 'seq']).execute();
  await db.schema.createIndex('audit_events_principal').on('audit_events').columns(['principal_arn', 'seq']).execute();

  await db.schema
    .createTable('audit_chain_head')
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('seq', ms, (c) => c.notNull())
    .addColumn('hash', 'text', (c) => c.notNull())
    .addColumn('checkpoint_seq', ms, (c) => c.notNull())
    .addColumn('checkpoint_time', ms, (c) => c.notNull())
    .execute();
  await db
    .insertInto('audit_chain_head')
    .values({ id: 1, seq: 0, hash: '0'.repeat(64), checkpoint_seq: 0, checkpoint_time: 0 })
    .execute();

  await db.schema
    .createTable('audit_checkpoint_keys')
    .addColumn('key_id', 'text', (c) => c.primaryKey())
    .addColumn('algorithm', 'text', (c) => c.notNull())
    .addColumn('public_key', 'text', (c) => c.notNull())
    .addColumn('created_at', ms, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('audit_checkpoints')
    .addColumn('seq', ms, (c) => c.primaryKey())
    .addColumn('hash', 'text', (c) => c.notNull())
    .addColumn('time', ms, (c) => c.notNull())
    .addColumn('key_id', 'text', (c) => c.notNull())
    .addColumn('signature', 'text', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const t of ['audit_checkpoints', 'audit_checkpoint_keys', 'audit_chain_head', 'audit_events']) {
    await db.schema.dropTable(t).execute();
  }
}

async function isPostgres(db: Kysely<any>): Promise<boolean> {
  const r = await sql<{ v: string }>`select version() as v`.execute(db).catch(() => null);
  return !!r && String(r.rows[0]?.v ?? '').startsWith('PostgreSQL');
}
