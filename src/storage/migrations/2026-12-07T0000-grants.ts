/**
 * KMS grants (AWS KMS Developer Guide, "Grants in AWS KMS"): one row per grant
 * on a key — its 64-hex id, optional name, the SHA-256 of its parameters
 * (a name and the same parameters are unique per key: CreateGrant's
 * idempotency, as AWS's), grantee and retiring principals, the account that issued it,
 * its operations (a JSON array) and constraints (JSON, or null). Grant tokens
 * are not stored: a token names its grant and carries nothing else (see
 * src/kms/grants.ts). Grants go with their key (ON DELETE CASCADE). Frozen:
 * never edit a migration that has shipped; add a new one.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  const pg = await isPostgres(db);
  const ms = pg ? sql`bigint` : sql`integer`;

  await db.schema
    .createTable('kms_grants')
    .addColumn('grant_id', 'text', (c) => c.primaryKey())
    .addColumn('key_id', 'text', (c) => c.notNull().references('kms_keys.key_id').onDelete('cascade'))
    .addColumn('name', 'text')
    .addColumn('grantee_principal', 'text', (c) => c.notNull())
    .addColumn('retiring_principal', 'text')
    .addColumn('issuing_account', 'text', (c) => c.notNull())
    .addColumn('operations', 'text', (c) => c.notNull())
    .addColumn('constraints', 'text')
    .addColumn('params_sha256', 'text', (c) => c.notNull())
    .addColumn('created_at', ms, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('kms_grants_key').on('kms_grants').columns(['key_id', 'created_at', 'grant_id']).execute();
  await db.schema.createIndex('kms_grants_retiring').on('kms_grants').columns(['retiring_principal', 'created_at', 'grant_id']).execute();
  // A name with the same parameters is one grant (CreateGrant is idempotent); rows without a name are not constrained (NULLs are distinct).
  await db.schema.createIndex('kms_grants_name').on('kms_grants').columns(['key_id', 'name', 'params_sha256']).unique().execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('kms_grants').execute();
}

async function isPostgres(db: Kysely<any>): Promise<boolean> {
  const r = await sql<{ v: string }>`select version() as v`.execute(db).catch(() => null);
  return !!r && String(r.rows[0]?.v ?? '').startsWith('PostgreSQL');
}
