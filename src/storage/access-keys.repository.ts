/**
 * SQL for iam_access_keys. Secrets pass through sealed; nothing here opens them.
 */
import type { Kysely, Transaction } from 'kysely';
import type { Tables } from './tables.js';

type Db = Kysely<Tables> | Transaction<Tables>;

export interface AccessKeyRow {
  accessKeyId: string;
  userName: string;
  principalArn: string;
  sealedSecret: Uint8Array;
  status: 'Active' | 'Inactive';
  createdAt: number;
}

export async function findAccessKey(db: Db, accessKeyId: string): Promise<AccessKeyRow | undefined> {
  const r = await db.selectFrom('iam_access_keys').selectAll().where('access_key_id', '=', accessKeyId).executeTakeFirst();
  return r
    ? {
        accessKeyId: r.access_key_id,
        userName: r.user_name,
        principalArn: r.principal_arn,
        sealedSecret: new Uint8Array(r.sealed_secret),
        status: r.status as 'Active' | 'Inactive',
        createdAt: Number(r.created_at),
      }
    : undefined;
}

export async function insertAccessKey(db: Db, k: AccessKeyRow): Promise<void> {
  await db
    .insertInto('iam_access_keys')
    .values({
      access_key_id: k.accessKeyId,
      user_name: k.userName,
      principal_arn: k.principalArn,
      sealed_secret: k.sealedSecret,
      status: k.status,
      created_at: k.createdAt,
    })
    .execute();
}

export async function countAccessKeys(db: Db): Promise<number> {
  const r = await db
    .selectFrom('iam_access_keys')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(r.n);
}
