/**
 * SQL for kms_share_generations (src/kms/share-generation.ts): read one
 * (key, address) row, create it once, raise it with a compare-and-set on the
 * generation it was read at. There is no statement that lowers a row.
 */
import { CompiledQuery, type Kysely, type Transaction } from 'kysely';
import type { Tables } from './tables.js';

type Db = Kysely<Tables> | Transaction<Tables>;

/**
 * findShareGeneration's SQL, compiled once per database handle (its dialect's placeholders and plugins) and
 * run with each release's parameters: it is read on every release of share A, and kysely's building and
 * compiling of the query cost more than SQLite's prepared-statement run (≈ 7 of 18 µs per read).
 */
const findSql = new WeakMap<Db, string>();

interface ShareGenerationSelect {
  generation: number | string;
  share_a_ciphertext_sha256: string;
  updated_at: number | string;
}

export interface ShareGenerationRow {
  keyId: string;
  address: string;
  generation: number;
  shareADigest: string;
  updatedAt: number;
}

/** The row of one master key and address, if any. */
export async function findShareGeneration(db: Db, keyId: string, address: string): Promise<ShareGenerationRow | undefined> {
  let sql = findSql.get(db);
  if (sql === undefined) {
    const q = db
      .selectFrom('kms_share_generations')
      .select(['generation', 'share_a_ciphertext_sha256', 'updated_at'])
      .where('key_id', '=', keyId)
      .where('address', '=', address)
      .compile();
    // Two parameters, in this order: the statement is only ever run with [keyId, address].
    if (q.parameters.length !== 2 || q.parameters[0] !== keyId || q.parameters[1] !== address) throw new Error('unexpected share generation query');
    sql = q.sql;
    findSql.set(db, sql);
  }
  const r = (await db.executeQuery(CompiledQuery.raw(sql, [keyId, address]) as CompiledQuery<ShareGenerationSelect>)).rows[0];
  return r && { keyId, address, generation: Number(r.generation), shareADigest: r.share_a_ciphertext_sha256, updatedAt: Number(r.updated_at) };
}

/**
 * Creates the row unless one exists.
 * @returns false when another request created it first.
 */
export async function insertShareGeneration(db: Db, row: ShareGenerationRow): Promise<boolean> {
  const r = await db
    .insertInto('kms_share_generations')
    .values({ key_id: row.keyId, address: row.address, generation: row.generation, share_a_ciphertext_sha256: row.shareADigest, updated_at: row.updatedAt })
    .onConflict((oc) => oc.columns(['key_id', 'address']).doNothing())
    .executeTakeFirst();
  return Number(r.numInsertedOrUpdatedRows ?? 0n) === 1;
}

/**
 * Raises the row to `row.generation` if it is still at `fromGeneration` (and below the new one).
 * @returns false when another request changed it first.
 */
export async function raiseShareGeneration(db: Db, fromGeneration: number, row: ShareGenerationRow): Promise<boolean> {
  const r = await db
    .updateTable('kms_share_generations')
    .set({ generation: row.generation, share_a_ciphertext_sha256: row.shareADigest, updated_at: row.updatedAt })
    .where('key_id', '=', row.keyId)
    .where('address', '=', row.address)
    .where('generation', '=', fromGeneration)
    .where('generation', '<', row.generation)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}
