/**
 * SQL for kms_share_generations (src/kms/share-generation.ts): read one
 * (key, address) row, create it once, raise it with a compare-and-set on the
 * generation it was read at. There is no statement that lowers a row.
 */
import type { Kysely, Transaction } from 'kysely';
import type { Tables } from './tables.js';

type Db = Kysely<Tables> | Transaction<Tables>;

export interface ShareGenerationRow {
  keyId: string;
  address: string;
  generation: number;
  shareADigest: string;
  updatedAt: number;
}

/** The row of one master key and address, if any. */
export async function findShareGeneration(db: Db, keyId: string, address: string): Promise<ShareGenerationRow | undefined> {
  const r = await db
    .selectFrom('kms_share_generations')
    .select(['generation', 'share_a_ciphertext_sha256', 'updated_at'])
    .where('key_id', '=', keyId)
    .where('address', '=', address)
    .executeTakeFirst();
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
