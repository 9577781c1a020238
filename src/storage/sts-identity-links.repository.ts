/**
 * SQL for the custodian's linked logins (sts_identity_links): which stable
 * user id (`uid`) a verified (issuer, subject) belongs to. Only STS writes
 * these rows (src/sts/identity-links.ts); the wallet service has no path to
 * them.
 */
import type { Kysely, Transaction } from 'kysely';
import type { Store } from './database.js';
import type { Tables } from './tables.js';

type Db = Kysely<Tables> | Transaction<Tables>;

export interface IdentityLinkRow {
  issuer: string;
  subject: string;
  uid: string;
  /** The subject of the login the uid was created for: legacy ciphertexts' `sub` context (STS session tag `osub`). */
  originSubject: string;
  /** Milliseconds since the epoch. */
  createdAt: number;
}

function toRow(r: Tables['sts_identity_links']): IdentityLinkRow {
  return { issuer: r.issuer, subject: r.subject, uid: r.uid, originSubject: r.origin_subject, createdAt: Number(r.created_at) };
}

/** The link of one login, if any. */
export async function findIdentityLink(db: Db, issuer: string, subject: string): Promise<IdentityLinkRow | undefined> {
  const r = await db.selectFrom('sts_identity_links').selectAll().where('issuer', '=', issuer).where('subject', '=', subject).executeTakeFirst();
  return r && toRow(r);
}

/** Stores `row` unless the login already has a link; returns the stored link (the existing one when it had). */
export async function insertIdentityLinkIfAbsent(db: Db, row: IdentityLinkRow): Promise<{ link: IdentityLinkRow; inserted: boolean }> {
  const res = await db
    .insertInto('sts_identity_links')
    .values({ issuer: row.issuer, subject: row.subject, uid: row.uid, origin_subject: row.originSubject, created_at: row.createdAt })
    .onConflict((oc) => oc.columns(['issuer', 'subject']).doNothing())
    .executeTakeFirst();
  const inserted = Number(res.numInsertedOrUpdatedRows ?? 0n) > 0;
  const link = await findIdentityLink(db, row.issuer, row.subject);
  if (!link) throw new Error('identity link vanished after insert');
  return { link, inserted };
}

/** Every login of one user, oldest first. */
export async function identityLinksOfUser(db: Db, uid: string): Promise<IdentityLinkRow[]> {
  const rows = await db
    .selectFrom('sts_identity_links')
    .selectAll()
    .where('uid', '=', uid)
    .orderBy('created_at')
    .orderBy('issuer')
    .orderBy('subject')
    .execute();
  return rows.map(toRow);
}

/** Removes one login from one user; false when it was not that user's. */
export async function deleteIdentityLink(db: Db, uid: string, issuer: string, subject: string): Promise<boolean> {
  const res = await db.deleteFrom('sts_identity_links').where('uid', '=', uid).where('issuer', '=', issuer).where('subject', '=', subject).executeTakeFirst();
  return Number(res.numDeletedRows) > 0;
}

/**
 * Runs `fn` in a transaction that serializes changes to one user's logins
 * across processes: PostgreSQL locks the user's rows (SELECT … FOR UPDATE);
 * SQLite's transactions begin IMMEDIATE (src/storage/database.ts), taking the
 * write lock first. So two concurrent unlinks cannot both see "another login
 * remains" and leave none.
 */
export async function inUserLinksTransaction<T>(store: Store, uid: string, fn: (db: Db) => Promise<T>): Promise<T> {
  return store.db.transaction().execute(async (trx) => {
    if (store.dialect === 'postgres') await trx.selectFrom('sts_identity_links').select('uid').where('uid', '=', uid).forUpdate().execute();
    return fn(trx);
  });
}

/** Moves one login from user `from` to user `to` (a merge, src/sts/merge-login.ts); false when it was not `from`'s. */
export async function moveIdentityLink(
  db: Db,
  login: { issuer: string; subject: string },
  from: string,
  to: { uid: string; originSubject: string },
): Promise<boolean> {
  const res = await db
    .updateTable('sts_identity_links')
    .set({ uid: to.uid, origin_subject: to.originSubject })
    .where('issuer', '=', login.issuer)
    .where('subject', '=', login.subject)
    .where('uid', '=', from)
    // Still the user's only login: a link into `from` that raced the caller's check leaves the login where it is.
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom('sts_identity_links as other')
            .select('other.uid')
            .where('other.uid', '=', from)
            .where((eb) => eb.or([eb('other.issuer', '<>', login.issuer), eb('other.subject', '<>', login.subject)])),
        ),
      ),
    )
    .executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}
