/**
 * The optional third share on the owner's device (issue #18, item 3;
 * docs/signer.md, "A third share on the user's device"): `share_factor` is
 * `device` when the stored generation is split into three shares (NULL: two),
 * swapped with the shares in the rotation's compare-and-set;
 * `wrapped_share_c_device` is share C wrapped by the owner's device key
 * (AES-256-GCM, a non-extractable key only that device holds) and
 * `wrapped_share_c_recovery` the same share wrapped under a key derived from
 * the owner's recovery code. Both are ciphertexts the wallet service cannot
 * open; they are served to the owner only. Frozen once shipped.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  const r = await sql<{ v: string }>`select version() as v`.execute(db).catch(() => null);
  const pg = !!r && String(r.rows[0]?.v ?? '').startsWith('PostgreSQL');
  const bytes = pg ? sql`bytea` : sql`blob`;
  await db.schema.alterTable('wallets').addColumn('share_factor', 'text').execute();
  await db.schema.alterTable('wallets').addColumn('wrapped_share_c_device', bytes).execute();
  await db.schema.alterTable('wallets').addColumn('wrapped_share_c_recovery', bytes).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('wallets').dropColumn('wrapped_share_c_recovery').execute();
  await db.schema.alterTable('wallets').dropColumn('wrapped_share_c_device').execute();
  await db.schema.alterTable('wallets').dropColumn('share_factor').execute();
}
