/**
 * SQL for wallet_users: the wallet store's users, one per (issuer, sub). The
 * first sight of an identity races across requests and processes, so creation
 * is an INSERT … ON CONFLICT DO NOTHING followed by a read (first writer wins),
 * and the master key id is set by one conditional UPDATE (first key wins).
 */
import type { Kysely, Transaction } from 'kysely';
import type { Tables, WalletUserTable } from './tables.js';

type Db = Kysely<Tables> | Transaction<Tables>;

export interface WalletUserRow {
  id: string;
  issuer: string;
  sub: string;
  email: string | null;
  createdAt: number;
  /** The user's master key in the custodian; null until the custodian has created it. */
  masterKeyId: string | null;
}

function toRow(r: WalletUserTable): WalletUserRow {
  return {
    id: r.id,
    issuer: r.issuer,
    sub: r.sub,
    email: r.email,
    createdAt: Number(r.created_at),
    masterKeyId: r.master_key_id,
  };
}

export async function findWalletUserByIdentity(db: Db, issuer: string, sub: string): Promise<WalletUserRow | undefined> {
  const r = await db.selectFrom('wallet_users').selectAll().where('issuer', '=', issuer).where('sub', '=', sub).executeTakeFirst();
  return r ? toRow(r) : undefined;
}

export async function findWalletUserById(db: Db, id: string): Promise<WalletUserRow | undefined> {
  const r = await db.selectFrom('wallet_users').selectAll().where('id', '=', id).executeTakeFirst();
  return r ? toRow(r) : undefined;
}

/**
 * Inserts the user unless (issuer, sub) already has one.
 * @returns the stored user (the given one, or the one another request stored first) and whether it is the given one.
 */
export async function insertWalletUserIfAbsent(db: Db, u: WalletUserRow): Promise<{ user: WalletUserRow; inserted: boolean }> {
  const result = await db
    .insertInto('wallet_users')
    .values({
      id: u.id,
      issuer: u.issuer,
      sub: u.sub,
      email: u.email,
      created_at: u.createdAt,
      master_key_id: u.masterKeyId,
    })
    .onConflict((oc) => oc.columns(['issuer', 'sub']).doNothing())
    .executeTakeFirst();
  const user = (await findWalletUserByIdentity(db, u.issuer, u.sub))!;
  return { user, inserted: Number(result.numInsertedOrUpdatedRows ?? 0n) > 0 && user.id === u.id };
}

/**
 * Records the user's master key unless one is recorded already.
 * @returns true when this key was recorded, false when the user already had one (or does not exist).
 */
export async function setWalletUserMasterKeyIfUnset(db: Db, id: string, masterKeyId: string): Promise<boolean> {
  const r = await db
    .updateTable('wallet_users')
    .set({ master_key_id: masterKeyId })
    .where('id', '=', id)
    .where('master_key_id', 'is', null)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/** Records the email the identity provider now asserts for the user (null when it asserts none). */
export async function updateWalletUserEmail(db: Db, id: string, email: string | null): Promise<void> {
  await db.updateTable('wallet_users').set({ email }).where('id', '=', id).execute();
}
