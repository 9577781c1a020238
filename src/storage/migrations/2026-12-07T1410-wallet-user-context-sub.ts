/**
 * wallet_users.context_sub: the `sub` the user's wallets name as encryption
 * context (docs/signer.md, "Linked logins"), which the user's template-3
 * master key allows as its pre-linking sub. The wallet service records the
 * subject the custodian's STS tags every session of the user with (`osub`,
 * GetWebIdentityUser's OriginSubject) when it creates the row, so every
 * linked login's session may use it, whichever login reached the wallet
 * service first. Null on rows made before: their context stays the creating
 * login's `sub`, as their keys' policies and ciphertexts fix it. Frozen once
 * shipped: add a new migration.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('wallet_users').addColumn('context_sub', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('wallet_users').dropColumn('context_sub').execute();
}
