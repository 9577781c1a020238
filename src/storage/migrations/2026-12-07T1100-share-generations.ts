/**
 * Retired share generations (issue #18, item 1; docs/signer.md "Retiring old
 * generations"): per master key and wallet address, the share generation the
 * custodian now releases and the SHA-256 of the one share A ciphertext it
 * releases at that generation. Older generations (and any other ciphertext of
 * the same generation) are refused. Rows only ever move up. Frozen: never edit
 * a migration that has shipped; add a new one.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  const r = await sql<{ v: string }>`select version() as v`.execute(db).catch(() => null);
  const pg = !!r && String(r.rows[0]?.v ?? '').startsWith('PostgreSQL');
  const ms = pg ? sql`bigint` : sql`integer`;
  await db.schema
    .createTable('kms_share_generations')
    .addColumn('key_id', 'text', (c) => c.notNull())
    .addColumn('address', 'text', (c) => c.notNull())
    .addColumn('generation', 'integer', (c) => c.notNull())
    .addColumn('share_a_ciphertext_sha256', 'text', (c) => c.notNull())
    .addColumn('updated_at', ms, (c) => c.notNull())
    .addPrimaryKeyConstraint('kms_share_generations_pk', ['key_id', 'address'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('kms_share_generations').execute();
}
