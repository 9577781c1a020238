/**
 * The custodian's linked logins (docs/identity.md, "Linked logins"): each
 * verified (issuer, subject) a session was ever issued for belongs to one
 * stable user id (`uid`), the value STS tags its sessions with and a
 * template-v3 master key binds to. Several rows may share a uid (one user,
 * several login methods). `origin_subject` is the subject of the login the
 * uid was created for (the same on every row of a uid): ciphertexts made
 * before linking existed name it as their `sub` context, and STS tags
 * sessions with it (`osub`) so a linked login can still open them. Keyed by (issuer, subject); indexed by uid to list
 * one user's methods. Frozen: never edit a migration that has shipped; add a
 * new one.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  const r = await sql<{ v: string }>`select version() as v`.execute(db).catch(() => null);
  const pg = !!r && String(r.rows[0]?.v ?? '').startsWith('PostgreSQL');
  const ms = pg ? sql`bigint` : sql`integer`;
  await db.schema
    .createTable('sts_identity_links')
    .addColumn('issuer', 'text', (c) => c.notNull())
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('uid', 'text', (c) => c.notNull())
    .addColumn('origin_subject', 'text', (c) => c.notNull())
    .addColumn('created_at', ms, (c) => c.notNull())
    .addPrimaryKeyConstraint('sts_identity_links_pk', ['issuer', 'subject'])
    .execute();
  await db.schema.createIndex('sts_identity_links_uid').on('sts_identity_links').column('uid').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('sts_identity_links').execute();
}
