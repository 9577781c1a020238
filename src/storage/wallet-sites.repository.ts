/**
 * SQL for wallet_sites: the sites a wallet user connected in the frame, one
 * row per (user, origin), deleted when the user disconnects the site on the
 * wallet's home page. Every query is by user id: one user never reads or
 * changes another's rows.
 */
import type { Kysely, Transaction } from 'kysely';
import type { Tables } from './tables.js';

type Db = Kysely<Tables> | Transaction<Tables>;

export interface SiteRow {
  origin: string;
  connectedAt: number;
}

export async function listSites(db: Db, userId: string): Promise<SiteRow[]> {
  const rows = await db
    .selectFrom('wallet_sites')
    .select(['origin', 'connected_at'])
    .where('user_id', '=', userId)
    .orderBy('connected_at', 'desc')
    .orderBy('origin')
    .execute();
  return rows.map((r) => ({ origin: r.origin, connectedAt: Number(r.connected_at) }));
}

/** Connects (or reconnects, with a new time) a site. */
export async function upsertSite(db: Db, userId: string, origin: string, at: number): Promise<void> {
  await db
    .insertInto('wallet_sites')
    .values({ user_id: userId, origin, connected_at: at })
    .onConflict((oc) => oc.columns(['user_id', 'origin']).doUpdateSet({ connected_at: at }))
    .execute();
}

/** @returns whether the site was connected. */
export async function deleteSite(db: Db, userId: string, origin: string): Promise<boolean> {
  const r = await db.deleteFrom('wallet_sites').where('user_id', '=', userId).where('origin', '=', origin).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}
