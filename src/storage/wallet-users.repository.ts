/**
 * SQL for wallet_users: the wallet store's users, one per custodian user id
 * (`uid`, the same for every linked login), created by one (issuer, sub). The
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
  /** The custodian's stable user id (STS `uid`); null on a row made before linked logins until stamped. */
  uid: string | null;
  /** The master key's policy template when known (3); absent or null: made before linked logins. */
  masterKeyTemplate?: number | null;
  /**
   * The `sub` the user's wallets name as encryption context: the subject the custodian tags the user's
   * sessions `osub` with, recorded at creation. Absent or null: `sub` (rows made before it was recorded).
   */
  contextSub?: string | null;
}

function toRow(r: WalletUserTable): WalletUserRow {
  return {
    id: r.id,
    issuer: r.issuer,
    sub: r.sub,
    email: r.email,
    createdAt: Number(r.created_at),
    masterKeyId: r.master_key_id,
    uid: r.uid ?? null,
    masterKeyTemplate: r.master_key_template ?? null,
    contextSub: r.context_sub ?? null,
  };
}

export async function findWalletUserByIdentity(db: Db, issuer: string, sub: string): Promise<WalletUserRow | undefined> {
  const r = await db.selectFrom('wallet_users').selectAll().where('issuer', '=', issuer).where('sub', '=', sub).executeTakeFirst();
  return r ? toRow(r) : undefined;
}

export async function findWalletUserByUid(db: Db, uid: string): Promise<WalletUserRow | undefined> {
  const r = await db.selectFrom('wallet_users').selectAll().where('uid', '=', uid).executeTakeFirst();
  return r ? toRow(r) : undefined;
}

/**
 * Stamps the custodian's user id on a row that has none, unless another row has it already.
 * @returns true when this row now carries `uid` (stamped now or before).
 */
export async function setWalletUserUidIfUnset(db: Db, id: string, uid: string): Promise<boolean> {
  const taken = await findWalletUserByUid(db, uid);
  if (taken) return taken.id === id;
  try {
    await db.updateTable('wallet_users').set({ uid }).where('id', '=', id).where('uid', 'is', null).execute();
  } catch (e) {
    // The unique index: another request stamped this uid on another row between the read and the write.
    if ((await findWalletUserByUid(db, uid))?.id !== id) return false;
    throw e;
  }
  return (await findWalletUserById(db, id))?.uid === uid;
}

/** One page of users ordered by id, after `afterId` (for batch jobs that resume). */
export async function listWalletUsersPage(db: Db, afterId: string | undefined, limit: number): Promise<WalletUserRow[]> {
  let q = db.selectFrom('wallet_users').selectAll().orderBy('id').limit(limit);
  if (afterId !== undefined) q = q.where('id', '>', afterId);
  return (await q.execute()).map(toRow);
}

export async function findWalletUserById(db: Db, id: string): Promise<WalletUserRow | undefined> {
  const r = await db.selectFrom('wallet_users').selectAll().where('id', '=', id).executeTakeFirst();
  return r ? toRow(r) : undefined;
}

/**
 * Inserts the user unless (issuer, sub) — or, when given, uid — already has one.
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
      ...(u.uid !== null ? { uid: u.uid } : {}),
      ...(u.contextSub != null ? { context_sub: u.contextSub } : {}),
    })
    .onConflict((oc) => oc.doNothing())
    .executeTakeFirst();
  const user = (u.uid !== null ? await findWalletUserByUid(db, u.uid) : undefined) ?? (await findWalletUserByIdentity(db, u.issuer, u.sub))!;
  return { user, inserted: Number(result.numInsertedOrUpdatedRows ?? 0n) > 0 && user.id === u.id };
}

/**
 * Gives the row of a user that was merged away (its uid `fromUid` has no login left at the custodian) to
 * the user `to.uid`, with a new master key and context sub, only if it still has `fromUid` and no wallet.
 * @returns true when the row is `to.uid`'s now; false when it changed meanwhile, has a wallet, or `to.uid` has a row already.
 */
export async function adoptWalletUser(
  db: Db,
  id: string,
  fromUid: string,
  to: { uid: string; masterKeyId: string; masterKeyTemplate: number; contextSub: string },
): Promise<boolean> {
  try {
    const r = await db
      .updateTable('wallet_users')
      .set({ uid: to.uid, master_key_id: to.masterKeyId, master_key_template: to.masterKeyTemplate, context_sub: to.contextSub })
      .where('id', '=', id)
      .where('uid', '=', fromUid)
      .where(({ not, exists, selectFrom }) => not(exists(selectFrom('wallets').select('wallets.id').where('wallets.user_id', '=', id))))
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  } catch (e) {
    // The unique index: `to.uid` got a row of its own between the caller's read and this write.
    if ((await findWalletUserByUid(db, to.uid)) !== undefined) return false;
    throw e;
  }
}

/**
 * Records the user's master key unless one is recorded already.
 * @returns true when this key was recorded, false when the user already had one (or does not exist).
 */
export async function setWalletUserMasterKeyIfUnset(db: Db, id: string, masterKeyId: string, template?: number): Promise<boolean> {
  const r = await db
    .updateTable('wallet_users')
    .set({ master_key_id: masterKeyId, ...(template !== undefined ? { master_key_template: template } : {}) })
    .where('id', '=', id)
    .where('master_key_id', 'is', null)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/** Records that the user's master key `masterKeyId` has template `template` (unless the user's key is another by now). */
export async function setWalletUserMasterKeyTemplate(db: Db, id: string, masterKeyId: string, template: number): Promise<void> {
  await db.updateTable('wallet_users').set({ master_key_template: template }).where('id', '=', id).where('master_key_id', '=', masterKeyId).execute();
}

/** Records the email the identity provider now asserts for the user (null when it asserts none). */
export async function updateWalletUserEmail(db: Db, id: string, email: string | null): Promise<void> {
  await db.updateTable('wallet_users').set({ email }).where('id', '=', id).execute();
}

/** A key tagged as some wallet user's master key that is not recorded as that user's key. */
export interface UnrecordedMasterKey {
  keyId: string;
  userId: string;
  /** The user's recorded master key: null when unset; undefined when the user does not exist. */
  recordedKeyId: string | null | undefined;
}

/**
 * Keys (not pending deletion) carrying `tagKey` = a user id whose user does not record
 * them as their master key: left behind when a process stopped between CreateKey and
 * recording the key, or when a lost creation race could not discard its key.
 * Needs the wallet store and the custodian's keys in one database.
 */
export async function listUnrecordedMasterKeys(db: Db, tagKey: string): Promise<UnrecordedMasterKey[]> {
  const rows = await db
    .selectFrom('kms_key_tags as t')
    .innerJoin('kms_keys as k', 'k.key_id', 't.key_id')
    .leftJoin('wallet_users as u', 'u.id', 't.tag_value')
    .select(['t.key_id as keyId', 't.tag_value as userId', 'u.id as foundUserId', 'u.master_key_id as recordedKeyId'])
    .where('t.tag_key', '=', tagKey)
    .where('k.key_state', '!=', 'PendingDeletion')
    .where((eb) => eb.or([eb('u.master_key_id', 'is', null), eb('u.master_key_id', '!=', eb.ref('t.key_id'))]))
    .orderBy('t.key_id')
    .execute();
  return rows.map((r) => ({ keyId: r.keyId, userId: r.userId, recordedKeyId: r.foundUserId === null ? undefined : r.recordedKeyId }));
}
