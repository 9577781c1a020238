/**
 * Rolling-window usage of signing policies (docs/signing-policy.md): one row
 * per signature by a KMS key whose signing policy names a window key
 * (eth:ValueInWindow/…, eth:Erc20AmountInWindow/…, eth:SignaturesInWindow/…):
 * when, on which chain, the wei value, and for an ERC-20 transfer the token
 * contract and amount (decimal text: wei does not fit a 64-bit integer).
 * Indexed by (key_id, at) so a decision reads one key's recent rows and
 * writes one. Frozen: never edit a migration that has shipped; add a new one.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  const r = await sql<{ v: string }>`select version() as v`.execute(db).catch(() => null);
  const pg = !!r && String(r.rows[0]?.v ?? '').startsWith('PostgreSQL');
  const ms = pg ? sql`bigint` : sql`integer`;
  await db.schema
    .createTable('kms_signing_usage')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('key_id', 'text', (c) => c.notNull())
    .addColumn('at', ms, (c) => c.notNull())
    .addColumn('chain_id', 'text')
    .addColumn('value', 'text', (c) => c.notNull())
    .addColumn('token', 'text')
    .addColumn('erc20_amount', 'text')
    .execute();
  await db.schema.createIndex('kms_signing_usage_key_at').on('kms_signing_usage').columns(['key_id', 'at']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('kms_signing_usage').execute();
}
