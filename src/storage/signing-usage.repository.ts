/**
 * SQL for rolling-window usage (kms_signing_usage): lock one key's usage for
 * a decision, read its rows since a time or after a seq, record one
 * signature, release a reservation whose signing failed, prune rows no
 * window can reach.
 */
import type { Kysely, Transaction } from 'kysely';
import type { Store } from './database.js';
import type { Tables } from './tables.js';

type Db = Kysely<Tables> | Transaction<Tables>;

export interface SigningUsageRow {
  /** Insertion order, once written (on one key: commit order); absent on a row not yet recorded. */
  seq?: number | undefined;
  id: string;
  keyId: string;
  /** Milliseconds since the epoch. */
  at: number;
  chainId: string | null;
  /** Wei, decimal. */
  value: string;
  /** ERC-20 transfer/transferFrom: the token contract (lowercase) and amount (decimal); else null. */
  token: string | null;
  erc20Amount: string | null;
}

/**
 * Runs `fn` in a transaction that serializes decisions on one key across
 * every server process over the store. PostgreSQL: a row lock on the key's
 * signing-policy row (SELECT … FOR UPDATE) taken first. SQLite: the store's
 * transactions begin IMMEDIATE (src/storage/database.ts), so the database's
 * write lock is taken before anything is read (a second process waits up to
 * the connection's busy_timeout for it).
 * Commits when `fn` resolves, rolls back when it throws.
 */
export async function inUsageTransaction<T>(store: Store, keyId: string, fn: (db: Db) => Promise<T>): Promise<T> {
  return store.db.transaction().execute(async (trx) => {
    if (store.dialect === 'postgres') await trx.selectFrom('kms_signing_policies').select('key_id').where('key_id', '=', keyId).forUpdate().execute();
    return fn(trx);
  });
}

const COLUMNS = ['seq', 'id', 'at', 'chain_id', 'value', 'token', 'erc20_amount'] as const;

function toRow(
  keyId: string,
  r: { seq: number | string; id: string; at: number; chain_id: string | null; value: string; token: string | null; erc20_amount: string | null },
): SigningUsageRow {
  // PostgreSQL's bigint arrives as text.
  return { seq: Number(r.seq), id: r.id, keyId, at: Number(r.at), chainId: r.chain_id, value: r.value, token: r.token, erc20Amount: r.erc20_amount };
}

/** The key's usage rows with `at` > `since` (ms), through the (key_id, at) index. */
export async function usageSince(db: Db, keyId: string, since: number): Promise<SigningUsageRow[]> {
  const rows = await db.selectFrom('kms_signing_usage').select(COLUMNS).where('key_id', '=', keyId).where('at', '>', since).execute();
  return rows.map((r) => toRow(keyId, r));
}

/** The key's usage rows written after `seq` (in seq order), through the (key_id, seq) index. */
export async function usageAfter(db: Db, keyId: string, seq: number): Promise<SigningUsageRow[]> {
  const rows = await db.selectFrom('kms_signing_usage').select(COLUMNS).where('key_id', '=', keyId).where('seq', '>', seq).orderBy('seq').execute();
  return rows.map((r) => toRow(keyId, r));
}

/**
 * Records one signature (one indexed insert).
 * @returns the row's seq, or undefined when a row with this id exists (an approved request recorded before).
 */
export async function recordUsage(db: Db, row: SigningUsageRow): Promise<number | undefined> {
  const r = await db
    .insertInto('kms_signing_usage')
    .values({ id: row.id, key_id: row.keyId, at: row.at, chain_id: row.chainId, value: row.value, token: row.token, erc20_amount: row.erc20Amount })
    .onConflict((oc) => oc.column('id').doNothing())
    .returning('seq')
    .executeTakeFirst();
  return r === undefined ? undefined : Number(r.seq);
}

/** Deletes a reservation (its signing failed). */
export async function releaseUsage(db: Db, id: string): Promise<void> {
  await db.deleteFrom('kms_signing_usage').where('id', '=', id).execute();
}

/** Deletes the key's rows with `at` <= `before` (ms), through the (key_id, at) index. @returns how many. */
export async function pruneUsage(db: Db, keyId: string, before: number): Promise<number> {
  const r = await db.deleteFrom('kms_signing_usage').where('key_id', '=', keyId).where('at', '<=', before).executeTakeFirst();
  return Number(r.numDeletedRows);
}
