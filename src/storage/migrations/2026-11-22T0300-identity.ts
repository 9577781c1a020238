/**
 * The built-in issuer's tables: subjects (a random `sub` per email), one-time
 * login codes (stored only as HMACs, with the counters the rate limits and
 * attempt limits read), and rotating refresh tokens grouped in families (stored
 * only as HMACs). The issuer's sealed signing key and pepper live in
 * symbolon_meta. Frozen: never edit a migration that has shipped; add a new one.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  const pg = await isPostgres(db);
  const bytes = pg ? sql`bytea` : sql`blob`;
  const ms = pg ? sql`bigint` : sql`integer`;

  await db.schema
    .createTable('identity_subjects')
    .addColumn('sub', 'text', (c) => c.primaryKey())
    .addColumn('email', 'text', (c) => c.notNull().unique())
    .addColumn('created_at', ms, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('identity_login_codes')
    .addColumn('code_id', 'text', (c) => c.primaryKey())
    /** HMAC of the normalised email (rate limits and lookup without the address itself). */
    .addColumn('email_key', 'text', (c) => c.notNull())
    /** HMAC of the requesting IP address (per-IP rate limit). */
    .addColumn('ip_key', 'text', (c) => c.notNull())
    .addColumn('code_hash', bytes, (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', ms, (c) => c.notNull())
    .addColumn('expires_at', ms, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('identity_login_codes_email').on('identity_login_codes').columns(['email_key', 'created_at']).execute();
  await db.schema.createIndex('identity_login_codes_ip').on('identity_login_codes').columns(['ip_key', 'created_at']).execute();

  await db.schema
    .createTable('identity_refresh_tokens')
    .addColumn('token_hash', 'text', (c) => c.primaryKey())
    .addColumn('family_id', 'text', (c) => c.notNull())
    .addColumn('sub', 'text', (c) => c.notNull().references('identity_subjects.sub').onDelete('cascade'))
    .addColumn('created_at', ms, (c) => c.notNull())
    .addColumn('expires_at', ms, (c) => c.notNull())
    .addColumn('used_at', ms)
    .addColumn('revoked_at', ms)
    .execute();
  await db.schema.createIndex('identity_refresh_tokens_family').on('identity_refresh_tokens').column('family_id').execute();
  await db.schema.createIndex('identity_refresh_tokens_expiry').on('identity_refresh_tokens').column('expires_at').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const t of ['identity_refresh_tokens', 'identity_login_codes', 'identity_subjects']) {
    await db.schema.dropTable(t).execute();
  }
}

async function isPostgres(db: Kysely<any>): Promise<boolean> {
  const r = await sql<{ v: string }>`select version() as v`.execute(db).catch(() => null);
  return !!r && String(r.rows[0]?.v ?? '').startsWith('PostgreSQL');
}
