/**
 * What the two quorum stores share: the per-key one (iam-quorum.repository.ts,
 * kms_policy_changes) and the account one (account-quorum.repository.ts,
 * account_changes). Their vote tables have the same columns (tables.ts,
 * ChangeVoteTable), and both list changes by the same (created_at, change_id)
 * cursor.
 */
import { type Kysely, type RawBuilder, type SqlBool, sql, type Transaction } from 'kysely';
import type { Tables } from './tables.js';

type Db = Kysely<Tables> | Transaction<Tables>;

/** The vote tables, one per quorum store. */
export type VoteTableName = 'kms_policy_change_votes' | 'account_change_votes';

export interface Vote {
  approverArn: string;
  vote: 'APPROVE' | 'REJECT';
  votedAt: number;
}

/** Where a listing resumes: after this (createdAt, changeId). */
export interface ChangeCursor {
  createdAt: number;
  changeId: string;
}

/** Records a vote; returns false when this approver already voted on the change. */
export async function insertChangeVote(db: Db, table: VoteTableName, changeId: string, v: Vote): Promise<boolean> {
  const r = await db
    .insertInto(table)
    .values({ change_id: changeId, approver_arn: v.approverArn, vote: v.vote, voted_at: v.votedAt })
    .onConflict((oc) => oc.columns(['change_id', 'approver_arn']).doNothing())
    .executeTakeFirst();
  return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
}

/** A change's votes in the order they were cast. */
export async function listChangeVotes(db: Db, table: VoteTableName, changeId: string): Promise<Vote[]> {
  const rows = await db.selectFrom(table).selectAll().where('change_id', '=', changeId).orderBy('voted_at').orderBy('approver_arn').execute();
  return rows.map((r) => ({ approverArn: r.approver_arn, vote: r.vote as Vote['vote'], votedAt: Number(r.voted_at) }));
}

/** The rows after `after` in (created_at, change_id) order, for either change table. */
export function afterCursor(after: ChangeCursor): RawBuilder<SqlBool> {
  return sql<SqlBool>`(created_at > ${after.createdAt} OR (created_at = ${after.createdAt} AND change_id > ${after.changeId}))`;
}
