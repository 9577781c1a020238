/**
 * A split wallet's signing policy (issue #16; docs/signing-policy.md, "Split
 * and envelope wallets"): `signing_policy` is the owner's policy text that the
 * stored share A ciphertext was sealed with (its SHA-256 is in share A's
 * encryption context), swapped together with the shares; NULL for a wallet
 * without one. Not sealed: it is not secret, and a text altered here only
 * makes share A fail to open. Frozen once shipped.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('wallets').addColumn('signing_policy', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('wallets').dropColumn('signing_policy').execute();
}
