/**
 * SQL for wallet_activity: what a wallet user approved in the frame, shown
 * on the wallet's home page. Every query is by user id: one user never reads
 * another's rows. The list is kept short (ACTIVITY_KEPT per user, the oldest
 * dropped on insert).
 */
import type { Kysely, Transaction } from 'kysely';
import type { Tables } from './tables.js';

type Db = Kysely<Tables> | Transaction<Tables>;

export type ActivityKind = 'connect' | 'disconnect' | 'sign_message' | 'sign_typed_data' | 'sign_transaction' | 'export_key';

export interface ActivityRow {
  id: string;
  userId: string;
  at: number;
  kind: ActivityKind;
  site: string;
  summary: string;
  txHash: string | null;
}

/** Activity entries kept per user. */
export const ACTIVITY_KEPT = 100;

const KINDS: ReadonlySet<string> = new Set<ActivityKind>(['connect', 'disconnect', 'sign_message', 'sign_typed_data', 'sign_transaction', 'export_key']);

/** Records an entry and drops the user's entries beyond the newest ACTIVITY_KEPT. */
export async function insertActivity(db: Db, a: ActivityRow): Promise<void> {
  await db
    .insertInto('wallet_activity')
    .values({ id: a.id, user_id: a.userId, at: a.at, kind: a.kind, site: a.site, summary: a.summary, tx_hash: a.txHash })
    .execute();
  const keep = db.selectFrom('wallet_activity').select('id').where('user_id', '=', a.userId).orderBy('at', 'desc').orderBy('id', 'desc').limit(ACTIVITY_KEPT);
  // LIMIT inside IN (…) works in SQLite and PostgreSQL.
  await db.deleteFrom('wallet_activity').where('user_id', '=', a.userId).where('id', 'not in', keep).execute();
}

/** The user's newest entries first. */
export async function listActivity(db: Db, userId: string, limit: number): Promise<ActivityRow[]> {
  const rows = await db
    .selectFrom('wallet_activity')
    .selectAll()
    .where('user_id', '=', userId)
    .orderBy('at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit)
    .execute();
  return rows
    .filter((r) => KINDS.has(r.kind))
    .map((r) => ({ id: r.id, userId: r.user_id, at: Number(r.at), kind: r.kind as ActivityKind, site: r.site, summary: r.summary, txHash: r.tx_hash }));
}
