/**
 * Signing policies (docs/signing-policy.md): at most one per KMS key, its
 * JSON text as put, who put it and when. No foreign key to kms_keys, as for
 * quorum rules: the row is deleted with nothing else depending on it, and a
 * key's deletion leaves a row no request can reach. Frozen: never edit a
 * migration that has shipped; add a new one.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  const r = await sql<{ v: string }>`select version() as v`.execute(db).catch(() => null);
  const pg = !!r && String(r.rows[0]?.v ?? '').startsWith('PostgreSQL');
  const ms = pg ? sql`bigint` : sql`integer`;
  await db.schema
    .createTable('kms_signing_policies')
    .addColumn('key_id', 'text', (c) => c.primaryKey())
    .addColumn('policy', 'text', (c) => c.notNull())
    .addColumn('updated_at', ms, (c) => c.notNull())
    .addColumn('updated_by', 'text', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('kms_signing_policies').execute();
}
