/**
 * API tokens of the JSON-RPC signer (docs/rpc.md): one row per token, bound to
 * an IAM user (its name and ARN at creation). Only the SHA-256 of the token is
 * kept (a 256-bit random token needs no slow hash: nobody can guess a preimage
 * of 2^256 candidates, so a fast hash is as strong as a slow one here).
 * Revocation sets `revoked_at` (the row stays, so a revoked token's use is
 * still attributed to its user in the audit log). Frozen: never edit a
 * migration that has shipped; add a new one.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  const r = await sql<{ v: string }>`select version() as v`.execute(db).catch(() => null);
  const pg = !!r && String(r.rows[0]?.v ?? '').startsWith('PostgreSQL');
  const ms = pg ? sql`bigint` : sql`integer`;

  await db.schema
    .createTable('rpc_tokens')
    .addColumn('token_id', 'text', (c) => c.primaryKey())
    .addColumn('token_sha256', 'text', (c) => c.notNull().unique())
    .addColumn('user_name', 'text', (c) => c.notNull())
    .addColumn('principal_arn', 'text', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', ms, (c) => c.notNull())
    .addColumn('revoked_at', ms)
    .execute();
  await db.schema.createIndex('rpc_tokens_user').on('rpc_tokens').columns(['user_name', 'created_at']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('rpc_tokens').execute();
}
