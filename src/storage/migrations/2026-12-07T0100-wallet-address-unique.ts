/**
 * One owner per wallet address (issue #12, item 11): the plain index on
 * `wallets.address` becomes UNIQUE. Stores that already hold one address
 * under several users keep the first registration (earliest `created_at`,
 * then smallest id) in `wallets`; the later ones move, unchanged, to
 * `wallets_displaced` (same columns, no constraints), so an operator can see
 * and settle them and nothing a user uploaded is destroyed. Addresses are
 * stored EIP-55 checksummed, so equal addresses are equal text. Frozen: never
 * edit a migration that has shipped; add a new one.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  // An empty copy of the table's columns (CREATE TABLE AS copies no constraints on either dialect).
  await sql`create table wallets_displaced as select * from wallets where 1 = 0`.execute(db);
  const later = sql`exists (select 1 from wallets w0 where w0.address = wallets.address and (w0.created_at < wallets.created_at or (w0.created_at = wallets.created_at and w0.id < wallets.id)))`;
  await sql`insert into wallets_displaced select * from wallets where ${later}`.execute(db);
  await sql`delete from wallets where id in (select id from wallets_displaced)`.execute(db);
  await db.schema.dropIndex('wallets_address').execute();
  await db.schema.createIndex('wallets_address_unique').on('wallets').column('address').unique().execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('wallets_address_unique').execute();
  await db.schema.createIndex('wallets_address').on('wallets').column('address').execute();
  await sql`insert into wallets select * from wallets_displaced`.execute(db);
  await db.schema.dropTable('wallets_displaced').execute();
}
