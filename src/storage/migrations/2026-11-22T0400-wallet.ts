/**
 * The wallet store's tables: users (one per (issuer, sub), with the id of their
 * master key in the custodian) and wallets (one per user, enforced by a UNIQUE
 * user_id). A wallet row holds only what docs/architecture.md lets the wallet store hold:
 * the address, the custody mode, the envelope's two ciphertexts, share B
 * sealed under the provider's key, KMS key ids — never anything that alone
 * rebuilds a key. The split and kms modes' columns are here, nullable, so
 * their issues add code, not migrations. Frozen: never edit a migration that
 * has shipped; add a new one.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  const pg = await isPostgres(db);
  const bytes = pg ? sql`bytea` : sql`blob`;
  const ms = pg ? sql`bigint` : sql`integer`;

  await db.schema
    .createTable('wallet_users')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('issuer', 'text', (c) => c.notNull())
    .addColumn('sub', 'text', (c) => c.notNull())
    .addColumn('email', 'text')
    .addColumn('created_at', ms, (c) => c.notNull())
    // Null only between the user's first sight and the custodian's CreateKey answer.
    .addColumn('master_key_id', 'text')
    .addUniqueConstraint('wallet_users_identity', ['issuer', 'sub'])
    .execute();

  await db.schema
    .createTable('wallets')
    .addColumn('id', 'text', (c) => c.primaryKey())
    // UNIQUE: one wallet per user, whatever races the API sees.
    .addColumn('user_id', 'text', (c) => c.notNull().unique().references('wallet_users.id').onDelete('cascade'))
    .addColumn('address', 'text', (c) => c.notNull())
    .addColumn('custody_mode', 'text', (c) => c.notNull())
    /** envelope: the device's AES-256-GCM box of the private key. */
    .addColumn('encrypted_private_key', bytes)
    /** envelope: the custodian's CiphertextBlob of the data key. */
    .addColumn('encrypted_data_key', bytes)
    /** envelope: the master key the data key is encrypted under; kms: the signing key. */
    .addColumn('kms_key_id', 'text')
    /** split: share B sealed under the provider's key. */
    .addColumn('share_b_sealed', bytes)
    .addColumn('created_at', ms, (c) => c.notNull())
    .addColumn('idempotency_key', 'text')
    .addCheckConstraint('wallets_custody_mode', sql`custody_mode in ('envelope', 'split', 'kms')`)
    // A half-written envelope wallet would be a wallet nobody can sign with.
    .addCheckConstraint(
      'wallets_envelope_complete',
      sql`custody_mode <> 'envelope' or (encrypted_private_key is not null and encrypted_data_key is not null and kms_key_id is not null)`,
    )
    .execute();
  await db.schema.createIndex('wallets_address').on('wallets').column('address').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const t of ['wallets', 'wallet_users']) {
    await db.schema.dropTable(t).execute();
  }
}

async function isPostgres(db: Kysely<any>): Promise<boolean> {
  const r = await sql<{ v: string }>`select version() as v`.execute(db).catch(() => null);
  return !!r && String(r.rows[0]?.v ?? '').startsWith('PostgreSQL');
}
