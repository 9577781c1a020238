/**
 * The device share's passkey wrap (docs/signer.md, "The passkey wrap"):
 * `wrapped_share_c_passkey` is share C wrapped under a key derived from a
 * passkey's PRF output (WebAuthn `prf`), which only the owner's
 * authenticator computes, after user verification. NULL: the generation has
 * no passkey wrap (two shares, or a device share wrapped by the device key
 * and the recovery code only). A ciphertext the wallet service cannot open,
 * served to the owner only. Frozen once shipped.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  const r = await sql<{ v: string }>`select version() as v`.execute(db).catch(() => null);
  const pg = !!r && String(r.rows[0]?.v ?? '').startsWith('PostgreSQL');
  await db.schema
    .alterTable('wallets')
    .addColumn('wrapped_share_c_passkey', pg ? sql`bytea` : sql`blob`)
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('wallets').dropColumn('wrapped_share_c_passkey').execute();
}
