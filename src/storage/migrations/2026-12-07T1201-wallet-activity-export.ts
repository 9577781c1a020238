/**
 * A key export on the wallet's activity list (docs/frame.md, "Export"): the
 * CHECK on wallet_activity.kind gains `export_key`. PostgreSQL replaces the
 * constraint; SQLite cannot alter one, so the table is rebuilt with the same
 * columns, rows and index. Frozen once shipped: add a new migration.
 */
import { sql, type Kysely } from 'kysely';

const KINDS_BEFORE = sql`kind in ('connect', 'disconnect', 'sign_message', 'sign_typed_data', 'sign_transaction')`;
const KINDS_AFTER = sql`kind in ('connect', 'disconnect', 'sign_message', 'sign_typed_data', 'sign_transaction', 'export_key')`;

export async function up(db: Kysely<any>): Promise<void> {
  await replaceKindCheck(db, KINDS_AFTER);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.deleteFrom('wallet_activity').where('kind', '=', 'export_key').execute();
  await replaceKindCheck(db, KINDS_BEFORE);
}

async function replaceKindCheck(db: Kysely<any>, check: ReturnType<typeof sql>): Promise<void> {
  if (await isPostgres(db)) {
    await sql`alter table wallet_activity drop constraint wallet_activity_kind`.execute(db);
    await sql`alter table wallet_activity add constraint wallet_activity_kind check (${check})`.execute(db);
    return;
  }
  await db.schema
    .createTable('wallet_activity_next')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('wallet_users.id').onDelete('cascade'))
    .addColumn('at', sql`integer`, (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('site', 'text', (c) => c.notNull())
    .addColumn('summary', 'text', (c) => c.notNull())
    .addColumn('tx_hash', 'text')
    .addCheckConstraint('wallet_activity_kind', check)
    .execute();
  await sql`insert into wallet_activity_next (id, user_id, at, kind, site, summary, tx_hash)
    select id, user_id, at, kind, site, summary, tx_hash from wallet_activity`.execute(db);
  await db.schema.dropTable('wallet_activity').execute();
  await db.schema.alterTable('wallet_activity_next').renameTo('wallet_activity').execute();
  await db.schema.createIndex('wallet_activity_user_at').on('wallet_activity').columns(['user_id', 'at']).execute();
}

async function isPostgres(db: Kysely<any>): Promise<boolean> {
  const r = await sql<{ v: string }>`select version() as v`.execute(db).catch(() => null);
  return !!r && String(r.rows[0]?.v ?? '').startsWith('PostgreSQL');
}
