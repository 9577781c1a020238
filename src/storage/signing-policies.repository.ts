/**
 * SQL for signing policies (kms_signing_policies): read one key's, and
 * compare-and-set writes, so that a change approved against one policy never
 * overwrites another written meanwhile.
 */
import type { Kysely, Transaction } from 'kysely';
import type { Tables } from './tables.js';

type Db = Kysely<Tables> | Transaction<Tables>;

export interface SigningPolicyRow {
  keyId: string;
  policy: string;
  updatedAt: number;
  updatedBy: string;
}

let writes = 0;

/**
 * How many signing-policy writes this process has made (counted when each
 * statement is done, whether it changed a row or not, committed or not): with
 * the store's externalCommits, what tells a cached policy text is still the
 * stored one (src/kms/signing-policy.ts).
 */
export function signingPolicyWrites(): number {
  return writes;
}

export async function findSigningPolicy(db: Db, keyId: string): Promise<SigningPolicyRow | undefined> {
  const r = await db.selectFrom('kms_signing_policies').selectAll().where('key_id', '=', keyId).executeTakeFirst();
  return r ? { keyId: r.key_id, policy: r.policy, updatedAt: Number(r.updated_at), updatedBy: r.updated_by } : undefined;
}

/**
 * Only the text of a key's signing policy (a primary-key read): what a
 * signing request compares with its cached copy, so that a change made by
 * any process applies to the next request.
 */
export async function findSigningPolicyText(db: Db, keyId: string): Promise<string | undefined> {
  const r = await db.selectFrom('kms_signing_policies').select('policy').where('key_id', '=', keyId).executeTakeFirst();
  return r?.policy;
}

/**
 * Writes a key's signing policy if the stored one is still `base` (undefined: none stored).
 * @returns false when another write came first (nothing changed).
 */
export async function putSigningPolicy(db: Db, row: SigningPolicyRow, base: string | undefined): Promise<boolean> {
  try {
    return await putSigningPolicyRow(db, row, base);
  } finally {
    writes++;
  }
}

async function putSigningPolicyRow(db: Db, row: SigningPolicyRow, base: string | undefined): Promise<boolean> {
  if (base === undefined) {
    const r = await db
      .insertInto('kms_signing_policies')
      .values({ key_id: row.keyId, policy: row.policy, updated_at: row.updatedAt, updated_by: row.updatedBy })
      .onConflict((oc) => oc.column('key_id').doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0n) === 1;
  }
  const r = await db
    .updateTable('kms_signing_policies')
    .set({ policy: row.policy, updated_at: row.updatedAt, updated_by: row.updatedBy })
    .where('key_id', '=', row.keyId)
    .where('policy', '=', base)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

/**
 * Deletes a key's signing policy if it is still `base`.
 * @returns false when it was changed or deleted meanwhile.
 */
export async function deleteSigningPolicy(db: Db, keyId: string, base: string): Promise<boolean> {
  try {
    const r = await db.deleteFrom('kms_signing_policies').where('key_id', '=', keyId).where('policy', '=', base).executeTakeFirst();
    return Number(r.numDeletedRows) === 1;
  } finally {
    writes++;
  }
}
