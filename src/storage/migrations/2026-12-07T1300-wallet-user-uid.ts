/**
 * Wallet users keyed by the custodian's stable user id (docs/wallet-api.md,
 * "Users and linked logins"): `wallet_users.uid` is the `uid` the custodian's
 * STS links the user's logins to (src/sts/identity-links.ts), so every linked
 * login reaches the same row. Null on rows made before linked logins until
 * the user's next request (or `symbolon operator migrate-master-keys`) stamps
 * it; unique where set. (issuer, sub) stays: the login that created the row.
 * `master_key_template` is the policy template the user's master key is known
 * to have (3 when the wallet service created it so, or the migration moved
 * it); null for a key from before, which the account root alone can tell
 * (the policy lets nobody else replace it, and the root cannot read it).
 * Frozen once shipped: add a new migration.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('wallet_users').addColumn('uid', 'text').execute();
  await db.schema.alterTable('wallet_users').addColumn('master_key_template', 'integer').execute();
  // NULLs are distinct in a unique index on both engines: rows without a uid do not collide.
  await db.schema.createIndex('wallet_users_uid').on('wallet_users').column('uid').unique().execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('wallet_users_uid').execute();
  await db.schema.alterTable('wallet_users').dropColumn('master_key_template').execute();
  await db.schema.alterTable('wallet_users').dropColumn('uid').execute();
}
