/**
 * SQL for rpc_tokens, the JSON-RPC signer's API tokens. Tokens pass through
 * as their SHA-256 only; nothing here ever sees a token.
 */
import type { Kysely, Transaction } from 'kysely';
import type { Tables } from './tables.js';

type Db = Kysely<Tables> | Transaction<Tables>;

export interface RpcTokenRow {
  tokenId: string;
  /** SHA-256 of the token, lowercase hex. */
  tokenSha256: string;
  userName: string;
  principalArn: string;
  createdBy: string;
  createdAt: number;
  revokedAt: number | null;
}

function toRow(r: Tables['rpc_tokens']): RpcTokenRow {
  return {
    tokenId: r.token_id,
    tokenSha256: r.token_sha256,
    userName: r.user_name,
    principalArn: r.principal_arn,
    createdBy: r.created_by,
    createdAt: Number(r.created_at),
    revokedAt: r.revoked_at === null ? null : Number(r.revoked_at),
  };
}

export async function insertRpcToken(db: Db, t: RpcTokenRow): Promise<void> {
  await db
    .insertInto('rpc_tokens')
    .values({
      token_id: t.tokenId,
      token_sha256: t.tokenSha256,
      user_name: t.userName,
      principal_arn: t.principalArn,
      created_by: t.createdBy,
      created_at: t.createdAt,
      revoked_at: t.revokedAt,
    })
    .execute();
}

/** The token whose SHA-256 is `sha256` (revoked or not), or undefined. */
export async function findRpcTokenByHash(db: Db, sha256: string): Promise<RpcTokenRow | undefined> {
  const r = await db.selectFrom('rpc_tokens').selectAll().where('token_sha256', '=', sha256).executeTakeFirst();
  return r ? toRow(r) : undefined;
}

export async function findRpcToken(db: Db, tokenId: string): Promise<RpcTokenRow | undefined> {
  const r = await db.selectFrom('rpc_tokens').selectAll().where('token_id', '=', tokenId).executeTakeFirst();
  return r ? toRow(r) : undefined;
}

/** Tokens, oldest first: one user's, or all of them. */
export async function listRpcTokens(db: Db, userName: string | undefined): Promise<RpcTokenRow[]> {
  let q = db.selectFrom('rpc_tokens').selectAll().orderBy('created_at').orderBy('token_id').limit(10_000);
  if (userName !== undefined) q = q.where('user_name', '=', userName);
  return (await q.execute()).map(toRow);
}

/** Marks a token revoked; false when there is no such live token. */
export async function revokeRpcToken(db: Db, tokenId: string, now: number): Promise<boolean> {
  const r = await db.updateTable('rpc_tokens').set({ revoked_at: now }).where('token_id', '=', tokenId).where('revoked_at', 'is', null).executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}
