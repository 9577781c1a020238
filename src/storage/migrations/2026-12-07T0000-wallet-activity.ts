/**
 * The wallet's own pages (docs/frame.md, "The wallet's home page"): the sites
 * a user has connected in the frame (wallet_sites, one row per user and
 * origin, deleted when the user disconnects the site) and what the user
 * approved in the frame (wallet_activity: kind, site, a one-line summary and
 * a transaction hash, never a signature, message body or key). Both belong to
 * a wallet user and go with them. Frozen once shipped: add a new migration.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  const pg = await isPostgres(db);
  const ms = pg ? sql`bigint` : sql`integer`;

  await db.schema
    .createTable('wallet_sites')
    .addColumn('user_id', 'text', (c) => c.notNull().references('wallet_users.id').onDelete('cascade'))
    .addColumn('origin', 'text', (c) => c.notNull())
    .addColumn('connected_at', ms, (c) => c.notNull())
    .addPrimaryKeyConstraint('wallet_sites_pk', ['user_id', 'origin'])
    .execute();

  await db.schema
    .createTable('wallet_activity')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('wallet_users.id').onDelete('cascade'))
    .addColumn('at', ms, (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('site', 'text', (c) => c.notNull())
    .addColumn('summary', 'text', (c) => c.notNull())
    .addColumn('tx_hash', 'text')
    .addCheckConstraint('wallet_activity_kind', sql`kind in ('connect', 'disconnect', 'sign_message', 'sign_typed_data', 'sign_transaction')`)
    .execute();
  await db.schema.createIndex('wallet_activity_user_at').on('wallet_activity').columns(['user_id', 'at']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const t of ['wallet_activity', 'wallet_sites']) {
    await db.schema.dropTable(t).execute();
  }
}

async function isPostgres(db: Kysely<any>): Promise<boolean> {
  const r = await sql<{ v: string }>`select version() as v`.execute(db).catch(() => null);
  return !!r && String(r.rows[0]?.v ?? '').startsWith('PostgreSQL');
}
