/**
 * Share rotation (issue #18, item 1; docs/signer.md "Share rotation"): a
 * split wallet's shares carry a generation. `share_generation` is the
 * generation of the stored share A ciphertext and sealed share B (0: the
 * shares made at wallet creation), swapped together with them in one
 * compare-and-set; `rotation_required` (0/1) is set by an operator and makes
 * the owner's next login rotate the shares. Frozen once shipped.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('wallets')
    .addColumn('share_generation', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema
    .alterTable('wallets')
    .addColumn('rotation_required', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('wallets').dropColumn('rotation_required').execute();
  await db.schema.alterTable('wallets').dropColumn('share_generation').execute();
}
